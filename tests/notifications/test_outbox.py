"""The outbox: notices written with the event, drained to the real firebase-admin client."""

import json
from datetime import timedelta

import pytest
from flask.cli import ScriptInfo
from google.oauth2.credentials import Credentials
from sqlalchemy import select

from notifications import dispatch
from notifications.models import Device, Notification, OutboxMessage
from notifications.outbox import notify
from notifications.push import FirebasePushSender, RecordingPushSender
from server.cli import main
from server.db import db, utcnow
from tests.conftest import bearer
from tests.factories import PatientFactory
from tests.notifications.fake_fcm import FakeFcm
from tests.support import run_job_now


@pytest.fixture
def fcm(session):
    """The fake FCM server, and (as `sender`) the real firebase-admin sender pointed at it."""
    with FakeFcm() as server:
        server.sender = FirebasePushSender(
            Credentials(token="t"), project_id="demo", endpoint=server.url
        )
        try:
            yield server
        finally:
            server.sender.close()


def drain(sender) -> dict:
    """One run of the drain-outbox job, sending with `sender`."""
    return run_job_now("drain-outbox", push=sender)


def _device(patient, token: str, *, active: bool = True) -> Device:
    device = Device(patient_id=patient.id, token=token, platform="android", active=active)
    db.session.add(device)
    db.session.flush()
    return device


def _notify(patient):
    return notify(
        patient.id,
        type="data_use",
        title="Your lab results were used",
        body="St. Mary's used your lab results.",
        data={"use_id": "u-1"},
        now=utcnow(),
    )


def _rows():
    return db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.created_at)).all()


def test_a_notice_queues_one_push_per_active_device(session, patient):
    _device(patient, "phone")
    _device(patient, "tablet")
    _device(patient, "old-phone", active=False)
    notice = _notify(patient)
    assert db.session.get(Notification, notice.id).title == "Your lab results were used"
    assert len(_rows()) == 2


def test_a_notice_without_devices_still_lands_in_the_inbox(session, patient):
    notice = _notify(patient)
    assert db.session.get(Notification, notice.id) is not None
    assert _rows() == []


def test_drain_delivers_each_notice_once_with_its_ids(session, patient, fcm):
    _device(patient, "phone")
    notice = _notify(patient)

    assert drain(fcm.sender) == {"sent": 1}
    assert drain(fcm.sender) == {}

    (row,) = _rows()
    assert row.status == "sent"
    (sent,) = fcm.received
    assert sent["message"]["data"] == {
        "use_id": "u-1",
        "type": "data_use",
        "notification_id": str(notice.id),
    }


def test_an_unregistered_device_is_deactivated_and_not_retried(session, patient, fcm):
    device = _device(patient, "unregistered:gone")
    _notify(patient)
    assert drain(fcm.sender) == {"unregistered": 1}
    assert db.session.get(Device, device.id).active is False
    assert _rows()[0].status == "dropped"
    _notify(patient)
    assert len(_rows()) == 1  # the new notice queues nothing for a deactivated device


def test_transient_failures_back_off_then_dead_letter(session, patient, fcm):
    _device(patient, "unavailable:1")
    _notify(patient)
    assert drain(fcm.sender) == {"retry": 1}
    (row,) = _rows()
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.next_attempt_at > utcnow()
    assert drain(fcm.sender) == {}  # not due yet

    for _ in range(dispatch.MAX_ATTEMPTS - 1):
        row.next_attempt_at = utcnow() - timedelta(seconds=1)
        db.session.flush()
        drain(fcm.sender)
    assert (row.status, row.attempts) == ("dead", dispatch.MAX_ATTEMPTS)


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    import random

    rng = random.Random(7)
    delays = [dispatch.backoff(n, rng=rng) for n in range(1, 15)]
    assert dispatch.BASE_DELAY <= delays[0] <= dispatch.BASE_DELAY * 2
    assert delays[3] > delays[0]
    assert max(delays) <= dispatch.MAX_DELAY


def test_a_crashed_workers_lease_expires_and_the_row_is_sent(session, patient, fcm):
    _device(patient, "phone")
    _notify(patient)
    owner = dispatch.claim(now=utcnow())  # a worker claims, then dies without sending
    (row,) = _rows()
    assert (row.status, row.lease_owner) == ("sending", owner)
    assert drain(fcm.sender) == {}  # leased: nobody else takes it

    row.lease_until = utcnow() - timedelta(seconds=1)
    db.session.flush()
    assert drain(fcm.sender) == {"sent": 1}
    assert len(fcm.received) == 1


def test_operator_sees_dead_letters_and_requeues_them(app, session, patient, fcm):
    _device(patient, "invalid:bad-token")
    _notify(patient)
    drain(fcm.sender)
    runner = app.test_cli_runner()
    info = ScriptInfo(create_app=lambda: app)

    stats = json.loads(runner.invoke(main, ["outbox", "stats"], obj=info).stdout)
    assert stats == {"dead": 1}
    requeued = json.loads(runner.invoke(main, ["outbox", "retry-dead"], obj=info).stdout)
    assert requeued == {"requeued": 1}
    assert _rows()[0].status == "pending"


class CheckingSender(RecordingPushSender):
    """Records, and notes whether a database transaction was open while sending."""

    def __init__(self):
        super().__init__()
        self.in_transaction: list[bool] = []

    def send(self, messages):
        self.in_transaction.append(db.session().in_transaction())
        return super().send(messages)


@pytest.fixture
def checking_sender():
    return CheckingSender()


def _register(client, token, *, expect: int):
    response = client.post(
        "/v1/me/devices", json={"token": "phone-1", "platform": "android"}, headers=bearer(token)
    )
    assert response.status_code == expect, response.json
    return response.json


def test_a_notice_in_flight_never_reaches_a_phone_that_moved_to_another_account(
    client, patient_token_for, checking_sender
):
    first, second = PatientFactory(), PatientFactory()
    first_token = patient_token_for(first)
    second_token = patient_token_for(second)
    _register(client, first_token, expect=201)
    notify(first.id, type="test", title="For the first owner only", body="b", now=utcnow())
    db.session.execute(  # a worker claimed it and died before sending
        OutboxMessage.__table__.update().values(status="sending", lease_until=utcnow())
    )
    _register(client, second_token, expect=200)  # the phone changes hands

    drain(checking_sender)
    assert checking_sender.sent == []
    statuses = db.session.scalars(select(OutboxMessage.status)).all()
    assert statuses == ["dropped"]


def test_the_drain_sends_outside_any_transaction(client, patient, patient_token, checking_sender):
    _register(client, patient_token, expect=201)
    notify(patient.id, type="test", title="Hello", body="b", now=utcnow())
    assert drain(checking_sender) == {"sent": 1}
    assert checking_sender.in_transaction == [False]
