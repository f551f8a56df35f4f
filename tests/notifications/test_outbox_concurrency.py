"""Two workers draining one outbox at once deliver every notice exactly once (real commits)."""

import time
import uuid

import pytest
from google.oauth2.credentials import Credentials
from sqlalchemy import func, select

from consent_api.patients.models import Patient
from notifications.models import Device, Notification, OutboxMessage
from notifications.outbox import notify
from notifications.push import FirebasePushSender
from server.app import create_app
from server.db import db, utcnow
from server.jobs import JobContext, dispatcher_for, job
from server.worker import run_job
from tests.conftest import app_config, wipe_committed
from tests.notifications.fake_fcm import FakeFcm
from tests.support import WorkerProcess, dispose, race, service_account_file, wait_until

NOTICES = 120
MANY_NOTICES = 3000  # several batches of 500, so that a worker is killed mid-drain


@pytest.fixture
def committed_outbox(app, database_url, request):
    """A patient with one device and NOTICES queued notices (or as many as the test's
    `notices` marker says), committed for real."""
    marker = request.node.get_closest_marker("notices")
    count = marker.args[0] if marker else NOTICES
    writer = create_app(app_config(database_url))
    with writer.app_context():
        patient = Patient(
            email=f"drain-{uuid.uuid4().hex[:8]}@example.org", password_hash="", display_name="D"
        )
        db.session.add(patient)
        db.session.flush()
        db.session.add(Device(patient_id=patient.id, token=f"phone-{patient.id}", platform="ios"))
        db.session.flush()
        for n in range(count):
            notify(patient.id, type="test", title=f"Notice {n}", body="b", now=utcnow())
        db.session.commit()
        patient_id = patient.id
    yield patient_id
    wipe_committed(writer)


def _unsent(application, patient_id) -> int:
    """Count the patient's outbox rows not yet sent, in a fresh session of `application`."""
    with application.app_context():
        try:
            return db.session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .join(Notification)
                .where(Notification.patient_id == patient_id, OutboxMessage.status != "sent")
            )
        finally:
            db.session.remove()


def test_two_workers_deliver_every_notice_exactly_once(committed_outbox, database_url):
    patient_id = committed_outbox
    with FakeFcm() as fcm:
        workers = [create_app(app_config(database_url)) for _ in range(2)]
        contexts = [
            JobContext(
                worker_app.config,
                FirebasePushSender(Credentials(token="t"), project_id="demo", endpoint=fcm.url),
                dispatcher_for(worker_app.config),
            )
            for worker_app in workers
        ]

        def drainer(worker_app, context):
            def run():
                deadline = time.monotonic() + 60
                while _unsent(worker_app, patient_id) and time.monotonic() < deadline:
                    run_job(worker_app, job("drain-outbox"), context)

            return run

        try:
            race([drainer(*pair) for pair in zip(workers, contexts, strict=True)], timeout=90)
        finally:
            for context in contexts:
                context.push.close()
            dispose(*workers)

    titles = [body["message"]["notification"]["title"] for body in fcm.received]
    assert len(titles) == NOTICES
    assert len(set(titles)) == NOTICES


def _crash_then_finish(
    fcm: FakeFcm, database_url: str, patient_id, tmp_path, *, killed_after: int, timeout: float
) -> None:
    """A worker is SIGKILLed once `killed_after` sends reached the fake (mid-batch: nothing
    recorded); a second worker then sends everything left once the lease ran out."""
    account = service_account_file(tmp_path / "sa.json", f"{fcm.url}/token")
    env = {
        "DATABASE_URL": database_url,
        "PUSH_BACKEND": "fcm",
        "FIREBASE_CREDENTIALS": str(account),
        "FCM_ENDPOINT": fcm.url,
        "OUTBOX_LEASE_SECONDS": "2",
    }
    with WorkerProcess(env) as first:
        wait_until(lambda: fcm.arrived > killed_after, timeout=60, what="the first worker's sends")
        first.kill()
    fcm.delay = 0.0

    writer = create_app(app_config(database_url))
    try:
        with WorkerProcess(env) as second:
            wait_until(
                lambda: _unsent(writer, patient_id) == 0,
                timeout=timeout,
                interval=0.2,
                what="every notice sent once the lease ran out",
            )
            assert second.stop() == 0, second.lines
    finally:
        dispose(writer)


def test_a_worker_killed_mid_batch_loses_nothing(committed_outbox, database_url, tmp_path):
    patient_id = committed_outbox
    with FakeFcm(delay=1.5) as fcm:
        _crash_then_finish(fcm, database_url, patient_id, tmp_path, killed_after=0, timeout=60)

    delivered = {body["message"]["notification"]["title"] for body in fcm.received}
    assert delivered == {f"Notice {n}" for n in range(NOTICES)}


def _replacement_keys(message: dict) -> tuple[str, str, str]:
    """What makes a phone replace a notice instead of showing it twice, per platform."""
    return (
        message["android"]["notification"]["tag"],
        message["apns"]["headers"]["apns-collapse-id"],
        message["webpush"]["headers"]["Topic"],
    )


@pytest.mark.notices(MANY_NOTICES)
def test_a_notice_resent_after_a_crash_replaces_the_first_on_the_phone(
    committed_outbox, database_url, tmp_path
):
    """A worker SIGKILLed mid-drain: the second resends what the first had in flight. Every
    notice arrives; every repeat carries the first delivery's collapse id, tag and topic."""
    patient_id = committed_outbox
    with FakeFcm(delay=1.0) as fcm:
        # Past its first batch of 500, in the middle of a later one.
        _crash_then_finish(fcm, database_url, patient_id, tmp_path, killed_after=600, timeout=120)

    deliveries: dict[str, list[dict]] = {}
    for body in fcm.received:
        deliveries.setdefault(body["message"]["data"]["notification_id"], []).append(
            body["message"]
        )
    titles = {sent[0]["notification"]["title"] for sent in deliveries.values()}
    assert titles == {f"Notice {n}" for n in range(MANY_NOTICES)}  # none lost
    repeated = {notice: sent for notice, sent in deliveries.items() if len(sent) > 1}
    assert repeated, "the crash should have made the second worker resend some notices"
    for notice, sent in deliveries.items():
        assert {_replacement_keys(message) for message in sent} == {
            (notice, notice, notice.replace("-", ""))
        }
