"""A use and its notice are one transaction: if the notice cannot be written, the use is not
stored either (and its Idempotency-Key stays free for the retry)."""

import uuid

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event, func, select

from consent_api.consents.models import Consent
from consent_api.uses.models import DataUse
from notifications.models import Notification
from server.db import db
from tests.conftest import ref, report, use_body


class NoticeStoreDown(Exception):
    pass


@pytest.fixture
def notice_writes(app, session):
    """Make the database driver refuse every INSERT into notifications until `.mend()`: the
    failure happens where a real one would, inside the request's own transaction."""
    engine = db.engine

    def refuse(connection, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO NOTIFICATIONS"):
            raise NoticeStoreDown("the notifications table refused the row")

    class Switch:
        broken = False

        def brake(self):
            event.listen(engine, "before_cursor_execute", refuse)
            self.broken = True

        def mend(self):
            if self.broken:
                event.remove(engine, "before_cursor_execute", refuse)
                self.broken = False

    switch = Switch()
    yield switch
    switch.mend()


def _unchecked(app) -> FlaskClient:
    """A client for the 500s these tests provoke on purpose: the contract documents no 500
    per operation (any one is a bug), so these answers are checked here, not against it."""
    db.session.commit()  # the setup, as CommittingClient would
    return FlaskClient(app)


def _count(model, patient_id) -> int:
    return db.session.scalar(
        select(func.count()).select_from(model).where(model.patient_id == patient_id)
    )


def test_when_the_notice_write_fails_the_use_does_not_exist(
    app, client, hospital_token, grant, notice_writes
):
    patient, consent, _ = grant()
    before = _count(Notification, patient.id)
    body = use_body(ref(hospital_token, patient))
    notice_writes.brake()
    response = report(_unchecked(app), hospital_token, body, key="atomic-1")

    assert response.status_code == 500
    assert response.json["code"] == "internal_error"
    assert _count(DataUse, patient.id) == 0
    assert db.session.get(Consent, uuid.UUID(consent["id"])).use_count == 0

    notice_writes.mend()
    retried = report(client, hospital_token, body, key="atomic-1")
    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried.headers
    assert _count(DataUse, patient.id) == 1
    assert _count(Notification, patient.id) == before + 1


def test_when_the_alert_write_fails_the_refused_attempt_is_not_half_recorded(
    app, hospital_token, grant, notice_writes
):
    patient, _, _ = grant()
    notice_writes.brake()
    response = report(
        _unchecked(app), hospital_token, use_body(ref(hospital_token, patient), purpose="HMARKT")
    )
    assert response.status_code == 500
    assert _count(DataUse, patient.id) == 0
