"""Revocation is effective on the very next check in every process: two app instances share
only the database, with real commits (no test transaction), while one keeps checking."""

import threading
import time
import uuid

import pytest
from sqlalchemy import select

from consent_api.auth.models import OAuthClient
from consent_api.links import refs
from server.app import create_app
from server.db import db, reads
from tests.conftest import (
    REDIRECT_URI,
    PatientLogin,
    app_config,
    basic_auth,
    bearer,
    wipe_committed,
)
from tests.support import wait_until


@pytest.fixture
def two_apps(app, database_url):
    first = create_app(app_config(database_url))
    second = create_app(app_config(database_url))
    made = {}
    yield first, second, made
    wipe_committed(first)
    with second.app_context():
        db.engine.dispose()


def test_no_check_started_after_revoke_returned_is_permitted(two_apps):
    first, second, made = two_apps
    with first.app_context():
        from consent_api.auth import clients
        from consent_api.registration import service as registration
        from tests.factories import PASSWORD

        registration = registration.register_org(name="Cross Hospital", type="hospital")
        app_client = clients.create_app_client(name="app", redirect_uris=[REDIRECT_URI])
        db.session.commit()
        made.update(
            org_id=registration.org.id,
            app_id=app_client.client_id,
        )
        credentials = (registration.client.client_id, registration.client_secret)
    writer = first.test_client()
    email = f"cross-{uuid.uuid4().hex[:8]}@example.org"
    signed_up = writer.post(
        "/v1/patients", json={"email": email, "password": PASSWORD, "display_name": "X"}
    )
    made["patient_id"] = uuid.UUID(signed_up.json["id"])
    with first.app_context():
        login = PatientLogin(
            writer,
            db.session.scalar(select(OAuthClient).where(OAuthClient.client_id == made["app_id"])),
        )
        patient_token = login.tokens(email)["access_token"]
    consent = writer.post(
        "/v1/me/consents",
        json={
            "grantee": {"org_type": "hospital"},
            "data_categories": ["lab_results"],
            "purposes": ["TREAT"],
            "actions": ["use"],
        },
        headers=bearer(patient_token),
    ).json
    org_token = (
        second.test_client()
        .post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers=basic_auth(*credentials),
        )
        .json["access_token"]
    )
    with second.app_context():
        patient_ref = refs.encode(made["org_id"], made["patient_id"])
    check = {
        "patient_ref": patient_ref,
        "data_category": "lab_results",
        "purpose": "TREAT",
        "action": "use",
    }
    observed: list[tuple[float, str]] = []
    stop = threading.Event()

    def keep_checking():
        reader = second.test_client()
        try:
            while not stop.is_set():
                started = time.monotonic()
                answer = reader.post("/v1/consent-checks", json=check, headers=bearer(org_token))
                observed.append((started, answer.json["decision"]))
        finally:
            reads.release()  # this thread's kept read connection ends with it

    checker = threading.Thread(target=keep_checking, daemon=True)
    checker.start()
    try:
        wait_until(
            lambda: any(d == "permit" for _, d in observed), timeout=30, what="a first permit"
        )
        revoked = writer.post(
            f"/v1/me/consents/{consent['id']}/revoke", headers=bearer(patient_token)
        )
        returned_at = time.monotonic()
        assert revoked.status_code == 200
        wait_until(
            lambda: (
                sum(started > returned_at for started, _ in observed) >= 20
                or not checker.is_alive()
            ),
            timeout=60,
            what="20 checks after the revocation",
        )
    finally:
        stop.set()
        checker.join(timeout=30)
    assert not checker.is_alive(), "the checking thread did not stop"

    before = [d for started, d in observed if started < returned_at]
    after = [d for started, d in observed if started > returned_at]
    assert "permit" in before
    assert after
    assert set(after) == {"deny"}
