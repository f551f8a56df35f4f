"""Patient rights: export everything, and erasure."""

from sqlalchemy import select

from consent_api.auth.models import OAuthToken
from consent_api.patients.models import Patient
from notifications.outbox import notify
from server.db import db, utcnow
from tests.conftest import TEST_PASSWORD, bearer, csrf_from, pkce_pair, ref, shown
from tests.factories import PatientFactory


def _grant_to_hospitals(client, token):
    body = {
        "grantee": {"org_type": "hospital"},
        "data_categories": ["lab_results"],
        "purposes": ["TREAT"],
        "actions": ["use"],
    }
    return client.post("/v1/me/consents", json=body, headers=bearer(token)).json


def test_export_holds_profile_consents_history_and_requests(client, patient_token, patient):
    consent = _grant_to_hospitals(client, patient_token)
    client.post(f"/v1/me/consents/{consent['id']}/pause", headers=bearer(patient_token))
    document = client.get("/v1/me/export", headers=bearer(patient_token)).json
    assert document["profile"]["email"] == patient.email
    assert [c["id"] for c in document["consents"]] == [consent["id"]]
    assert [v["change"] for v in document["consent_versions"]] == ["created", "paused"]
    assert document["consent_requests"] == []
    assert "password" not in str(document).lower()


def test_erasure_revokes_consents_removes_personal_data_and_credentials(
    client, login, patient, token_for
):
    tokens = login.tokens(patient.email)
    consent = _grant_to_hospitals(client, tokens["access_token"])
    hospital = token_for("hospital")
    check = {
        "patient_ref": ref(hospital, patient),
        "data_category": "lab_results",
        "purpose": "TREAT",
        "action": "use",
    }
    assert (
        client.post("/v1/consent-checks", json=check, headers=bearer(hospital)).json["decision"]
        == "permit"
    )

    response = client.delete("/v1/me", headers=bearer(tokens["access_token"]))

    assert response.status_code == 204
    answer = client.post("/v1/consent-checks", json=check, headers=bearer(hospital)).json
    assert (answer["decision"], answer["reason"], answer["consent_id"]) == (
        "deny",
        "revoked",
        shown(hospital, consent["id"]),
    )
    stored = db.session.get(Patient, patient.id)
    assert (stored.email, stored.display_name, stored.password_hash) == (None, "", "")
    assert stored.erased_at is not None
    assert (
        db.session.scalars(select(OAuthToken).where(OAuthToken.patient_id == patient.id)).all()
        == []
    )
    assert client.get("/v1/me", headers=bearer(tokens["access_token"])).status_code == 401
    refresh = client.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": login.app_client.client_id,
        },
    )
    assert refresh.json["error"] == "invalid_grant"


def test_erased_patient_cannot_log_in_and_the_email_is_free_again(client, login, patient):
    email = patient.email
    token = login.tokens(email)["access_token"]
    client.delete("/v1/me", headers=bearer(token))
    _, challenge = pkce_pair()
    params = login.authorize_params(challenge)
    form = client.get("/oauth/authorize", query_string=params)
    attempt = client.post(
        "/oauth/authorize",
        query_string=params,
        data={"email": email, "password": TEST_PASSWORD, "csrf_token": csrf_from(form.text)},
    )
    assert attempt.status_code == 200
    assert "Wrong e-mail or password" in attempt.text
    again = client.post(
        "/v1/patients",
        json={"email": email, "password": "a brand new password", "display_name": "New"},
    )
    assert again.status_code == 201


def _register(client, token, *, expect: int):
    response = client.post(
        "/v1/me/devices", json={"token": "phone-1", "platform": "android"}, headers=bearer(token)
    )
    assert response.status_code == expect, response.json
    return response.json


def test_a_patient_whose_phone_moved_on_can_still_be_erased(client, patient_token_for):
    first, second = PatientFactory(), PatientFactory()
    first_token = patient_token_for(first)
    _register(client, first_token, expect=201)
    notify(first.id, type="test", title="Hello", body="b", now=utcnow())
    _register(client, patient_token_for(second), expect=200)
    assert client.delete("/v1/me", headers=bearer(first_token)).status_code == 204
