"""Pushes reach only their own patient's active devices; erasure, titles, time zones and the
drain's transaction, as a review found them wanting."""

import pytest
from sqlalchemy import select

from notifications import jobs
from notifications.models import OutboxMessage
from notifications.outbox import notify
from notifications.push import RecordingPushSender
from server.db import db, utcnow
from tests.conftest import bearer
from tests.factories import PatientFactory


class CheckingSender(RecordingPushSender):
    """Records, and notes whether a database transaction was open while sending."""

    def __init__(self):
        super().__init__()
        self.in_transaction: list[bool] = []

    def send(self, messages):
        self.in_transaction.append(db.session().in_transaction())
        return super().send(messages)


@pytest.fixture
def sender(app):
    recorder = CheckingSender()
    app.extensions["push_sender"] = recorder
    yield recorder
    app.extensions.pop("push_sender", None)


def _register(client, token):
    response = client.post(
        "/v1/me/devices", json={"token": "phone-1", "platform": "android"}, headers=bearer(token)
    )
    assert response.status_code in (200, 201), response.json
    return response.json


def test_a_notice_in_flight_never_reaches_a_phone_that_moved_to_another_account(
    client, login, sender
):
    first, second = PatientFactory(), PatientFactory()
    first_token = login.tokens(first.email)["access_token"]
    second_token = login.tokens(second.email)["access_token"]
    _register(client, first_token)
    notify(first.id, type="test", title="For the first owner only", body="b", now=utcnow())
    db.session.execute(  # a worker claimed it and died before sending
        OutboxMessage.__table__.update().values(status="sending", lease_until=utcnow())
    )
    _register(client, second_token)  # the phone changes hands

    jobs.drain_outbox()
    assert sender.sent == []
    statuses = db.session.scalars(select(OutboxMessage.status)).all()
    assert statuses == ["dropped"]


def test_the_drain_sends_outside_any_transaction(client, patient, patient_token, sender):
    _register(client, patient_token)
    notify(patient.id, type="test", title="Hello", body="b", now=utcnow())
    assert jobs.drain_outbox() == {"sent": 1}
    assert sender.in_transaction == [False]


def test_a_patient_whose_phone_moved_on_can_still_be_erased(client, login):
    first, second = PatientFactory(), PatientFactory()
    first_token = login.tokens(first.email)["access_token"]
    _register(client, first_token)
    notify(first.id, type="test", title="Hello", body="b", now=utcnow())
    _register(client, login.tokens(second.email)["access_token"])
    assert client.delete("/v1/me", headers=bearer(first_token)).status_code == 204


def test_a_long_organisation_name_never_overflows_a_title(client, org_credentials, token_for):
    from tests.conftest import report, use_body

    org = org_credentials("hospital", name="H" * 200)
    patient = PatientFactory()
    categories = ["lab_results", "imaging", "medications", "allergies", "diagnoses"]
    response = report(
        client, token_for(registration=org), use_body(patient.id, data_categories=categories)
    )
    assert response.status_code == 403
    from notifications.models import Notification

    (notice,) = db.session.scalars(select(Notification)).all()
    assert len(notice.title) == 200
    assert notice.title.endswith("…")


def test_a_time_zone_folder_is_not_a_time_zone(client, patient_token):
    response = client.put(
        "/v1/me/notification-preferences",
        json={"data_uses": "immediate", "time_zone": "America"},
        headers=bearer(patient_token),
    )
    assert response.status_code == 422
    assert "time_zone" in response.json["errors"]
