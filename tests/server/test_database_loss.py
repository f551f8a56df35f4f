"""A database connection dropped mid-request: a 503 problem with Retry-After, never a 500,
and never half a write. Backends are killed with pg_terminate_backend under a bounded load."""

import collections
import threading
import time
import uuid

import pytest
from sqlalchemy import create_engine, select, text

from consent_api.auth import clients
from consent_api.consents.models import Consent
from consent_api.links import refs
from consent_api.registration import service as registration
from consent_api.uses.models import DataUse
from notifications.models import Notification
from server.app import create_app
from server.config import engine_options
from server.db import db
from tests.conftest import app_config, basic_auth, bearer, use_body, wipe_committed
from tests.factories import PatientFactory
from tests.support import issue_patient_token, race

APPLICATION_NAME = "cw-fault"  # the backends this test may kill, and no others
LOAD_SECONDS = 8
CLIENTS = 4
PATIENTS = 8


@pytest.fixture
def fault_app(app, database_url):
    """An app committing for real, whose connections carry APPLICATION_NAME."""
    if not database_url.startswith("postgresql"):
        pytest.skip("only PostgreSQL can drop a client's connection from the server side")
    options = engine_options(database_url)
    options["connect_args"]["application_name"] = APPLICATION_NAME
    application = create_app(app_config(database_url, SQLALCHEMY_ENGINE_OPTIONS=options))
    yield application
    wipe_committed(application)


def _setup(application) -> tuple[str, list[uuid.UUID], list[str]]:
    """A hospital's token, and patients who each granted it a consent (committed): their ids,
    and the references the hospital knows them by."""
    client = application.test_client()
    with application.app_context():
        hospital = registration.register_org(name="Fault Hospital", type="hospital")
        wallet = clients.create_app_client(name="Wallet", redirect_uris=["https://a.example/cb"])
        patients = [PatientFactory() for _ in range(PATIENTS)]
        tokens = [issue_patient_token(patient, wallet) for patient in patients]
        ids = [patient.id for patient in patients]
        patient_refs = refs.encode_many(hospital.org.id, ids)
        credentials = (hospital.client.client_id, hospital.client_secret)
        db.session.commit()
    for token in tokens:
        granted = client.post(
            "/v1/me/consents",
            json={
                "grantee": {"org_type": "hospital"},
                "data_categories": ["lab_results"],
                "purposes": ["TREAT"],
                "actions": ["use"],
            },
            headers=bearer(token),
        )
        assert granted.status_code == 201, granted.json
    issued = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=basic_auth(*credentials)
    )
    assert issued.status_code == 200, issued.json
    return issued.json["access_token"], ids, patient_refs


def test_killed_backends_give_503s_with_retry_after_and_no_half_writes(fault_app, database_url):
    token, patient_ids, patient_refs = _setup(fault_app)
    deadline = time.monotonic() + LOAD_SECONDS
    answers: list[tuple[str, int, dict]] = []
    lock = threading.Lock()
    kills = 0

    def reporter(n: int):
        def run() -> None:
            client = fault_app.test_client()
            i = 0
            while time.monotonic() < deadline:
                key = f"fault-{n}-{i}"
                response = client.post(
                    "/v1/data-uses",
                    json=use_body(patient_refs[(n + i) % PATIENTS]),
                    headers={**bearer(token), "Idempotency-Key": key},
                )
                with lock:
                    answers.append((key, response.status_code, response.headers, response.json))
                i += 1

        return run

    def killer() -> None:
        nonlocal kills
        engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                while time.monotonic() < deadline:
                    kills += connection.scalar(
                        text(
                            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))"
                            " FROM pg_stat_activity WHERE datname = current_database()"
                            " AND application_name = :name"
                            " AND state IN ('active', 'idle in transaction')"
                        ),
                        {"name": APPLICATION_NAME},
                    )
                    time.sleep(0.1)
        finally:
            engine.dispose()

    race([reporter(n) for n in range(CLIENTS)] + [killer], timeout=LOAD_SECONDS + 60)

    statuses = collections.Counter(status for _, status, _, _ in answers)
    assert kills > 0
    assert set(statuses) <= {201, 503}, statuses
    assert statuses[503] > 0, f"no request was caught by a kill: {statuses}, {kills} kills"
    for _, status, headers, body in answers:
        if status == 503:
            assert body["code"] == "database_unavailable"
            assert int(headers["Retry-After"]) > 0

    with fault_app.app_context():
        uses = db.session.scalars(select(DataUse).where(DataUse.patient_id.in_(patient_ids))).all()
        notices = db.session.scalars(
            select(Notification).where(Notification.patient_id.in_(patient_ids))
        ).all()
        consents = db.session.scalars(
            select(Consent).where(Consent.patient_id.in_(patient_ids))
        ).all()
        db.session.remove()
    stored = {str(use.id) for use in uses}
    created = {body["id"] for _, status, _, body in answers if status == 201}
    assert created <= stored  # every 2xx write is in the database
    assert len(stored - created) <= statuses[503]  # a 503 at COMMIT may have landed, whole
    noticed = collections.Counter(
        n.data["data_use_id"] for n in notices if n.data and "data_use_id" in n.data
    )
    assert all(noticed[use] == 1 for use in stored)  # each use with its notice, once
    assert sum(consent.use_count for consent in consents) == len(stored)
