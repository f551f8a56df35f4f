"""Data uses under real concurrency (threads, real commits, one app per thread as in
separate processes) and delivered by a real worker process to the fake FCM server."""

import time
import uuid

import pytest
from sqlalchemy import func, select

from consent_api.consents import service as consents
from consent_api.consents.models import Consent
from consent_api.consents.schemas import ConsentIn
from consent_api.links import refs
from consent_api.registration import service as registrations
from consent_api.uses.models import DataUse
from notifications.models import Device, OutboxMessage
from server.app import create_app
from server.db import db, utcnow
from tests.conftest import app_config, basic_auth, use_body, wipe_committed
from tests.factories import PatientFactory
from tests.notifications.fake_fcm import FakeFcm
from tests.support import WorkerProcess, dispose, race, service_account_file, wait_until

THREADS = 8


@pytest.fixture
def world(app, database_url):
    """A hospital with a client and a patient with a consent (max 5 uses), committed."""
    setup = create_app(app_config(database_url))
    with setup.app_context():
        registration = registrations.register_org(name="St Mary's", type="hospital")
        patient = PatientFactory()
        db.session.add(
            Device(patient_id=patient.id, token=f"phone-{uuid.uuid4().hex}", platform="android")
        )
        body = ConsentIn().load(
            {
                "grantee": {"org_type": "hospital"},
                "data_categories": ["lab_results"],
                "purposes": ["TREAT"],
                "actions": ["use"],
                "max_uses": 5,
            }
        )
        consent = consents.create(patient, body, now=utcnow())
        db.session.commit()
        made = {
            "client_id": registration.client.client_id,
            "secret": registration.client_secret,
            "patient_id": patient.id,
            "patient_ref": refs.encode(registration.org.id, patient.id),
            "consent_id": consent.id,
        }
    yield setup, made
    wipe_committed(setup)


def _token(application, made) -> str:
    response = application.test_client().post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth(made["client_id"], made["secret"]),
    )
    assert response.status_code == 200, response.json
    return response.json["access_token"]


def _race(database_url, made, bodies_and_keys):
    """Post every (body, key) from its own thread and app instance, all released at once."""
    apps = [create_app(app_config(database_url)) for _ in bodies_and_keys]
    token = _token(apps[0], made)

    def poster(application, body, key):
        def post():
            response = application.test_client().post(
                "/v1/data-uses",
                json=body,
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
            )
            return response.status_code, response.get_json()

        return post

    try:
        return race(
            [
                poster(application, body, key)
                for application, (body, key) in zip(apps, bodies_and_keys, strict=True)
            ]
        )
    finally:
        dispose(*apps)


def _count(application, statement) -> int:
    with application.app_context():
        try:
            return db.session.scalar(statement)
        finally:
            db.session.remove()


def test_max_uses_holds_exactly_under_concurrent_reports(world, database_url):
    setup, made = world
    body = use_body(made["patient_ref"])
    answers = _race(database_url, made, [(body, f"k-{n}") for n in range(THREADS)])

    statuses = sorted(status for status, _ in answers)
    assert statuses == [201] * 5 + [403] * (THREADS - 5), answers
    refusals = {answer["reason"] for status, answer in answers if status == 403}
    assert refusals == {"max_uses_reached"}
    use_count = select(Consent.use_count).where(Consent.id == made["consent_id"])
    assert _count(setup, use_count) == 5
    permitted = (
        select(func.count())
        .select_from(DataUse)
        .where(DataUse.patient_id == made["patient_id"], DataUse.outcome == "permitted")
    )
    assert _count(setup, permitted) == 5


def test_concurrent_retries_with_one_key_write_one_use(world, database_url):
    setup, made = world
    body = use_body(made["patient_ref"])
    answers = _race(database_url, made, [(body, "the-one-key")] * THREADS)

    assert {status for status, _ in answers} == {201}, answers
    assert len({answer["id"] for _, answer in answers}) == 1
    uses = select(func.count()).select_from(DataUse).where(DataUse.patient_id == made["patient_id"])
    assert _count(setup, uses) == 1
    assert _count(setup, select(Consent.use_count).where(Consent.id == made["consent_id"])) == 1


def _pushing_to(fcm, database_url, tmp_path, **more) -> dict[str, str]:
    """A worker's environment: this database, pushing through firebase-admin to the fake."""
    account = service_account_file(tmp_path / "sa.json", f"{fcm.url}/token")
    return {
        "DATABASE_URL": database_url,
        "PUSH_BACKEND": "fcm",
        "FIREBASE_CREDENTIALS": str(account),
        "FCM_ENDPOINT": fcm.url,
        **more,
    }


def test_a_reported_use_reaches_the_phone_through_a_real_worker(world, database_url, tmp_path):
    setup, made = world
    (status, answer), *_ = _race(database_url, made, [(use_body(made["patient_ref"]), "e2e")])
    assert status == 201
    with FakeFcm() as fcm, WorkerProcess(_pushing_to(fcm, database_url, tmp_path)) as worker:
        wait_until(lambda: fcm.received, timeout=60, what="the push at the fake FCM")
        assert worker.stop() == 0, worker.lines

    (push,) = fcm.received
    assert push["message"]["data"]["type"] == "data_use"
    assert push["message"]["data"]["data_use_id"] == answer["id"]
    assert push["message"]["notification"]["title"] == "St Mary's used your lab results"
    sent = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "sent")
    assert _count(setup, sent) == 1


def test_a_commit_wakes_the_worker_without_waiting_for_its_poll(world, database_url, tmp_path):
    """Issue 12 (the worker wakes on commit): with polling an hour apart, a use reported
    after the worker started still reaches the phone, because its commit notified the
    worker (PostgreSQL LISTEN/NOTIFY); polling stays the fallback, and SQLite's only way."""
    if not database_url.startswith("postgresql"):
        pytest.skip("only PostgreSQL notifies listeners of commits")
    _, made = world
    with FakeFcm() as fcm:
        env = _pushing_to(fcm, database_url, tmp_path, OUTBOX_POLL_SECONDS="3600")
        with WorkerProcess(env) as worker:
            worker.wait_for_line("listening for commits on outbox_due", timeout=60)
            time.sleep(2)  # ordering, not timing: the start-up drains are over before the use
            (status, answer), *_ = _race(database_url, made, [(use_body(made["patient_ref"]), "w")])
            assert status == 201
            worker.wait_for_line("drain-outbox on a commit's notice", timeout=30)
            wait_until(lambda: fcm.received, timeout=30, what="the push, woken by the commit")
            assert worker.stop() == 0, worker.lines
    (push,) = fcm.received
    assert push["message"]["data"]["data_use_id"] == answer["id"]
