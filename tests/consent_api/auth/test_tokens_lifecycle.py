"""Refresh rotation, reuse detection, revocation (RFC 7009), expiry and suspension."""

from datetime import timedelta

from sqlalchemy import select

from consent_api.auth.models import OAuthToken, digest
from server.db import db, utcnow
from tests.conftest import basic_auth, bearer


def _refresh(client, login, refresh_token):
    return client.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": login.app_client.client_id,
        },
    )


def test_refresh_rotates_both_tokens(client, login, patient):
    first = login.tokens(patient.email)
    second = _refresh(client, login, first["refresh_token"])
    assert second.status_code == 200
    assert second.json["refresh_token"] != first["refresh_token"]
    assert second.json["access_token"] != first["access_token"]
    assert client.get("/v1/me", headers=bearer(second.json["access_token"])).status_code == 200
    assert _refresh(client, login, second.json["refresh_token"]).status_code == 200


def test_the_previous_access_token_lives_until_it_expires_after_a_refresh(client, login, patient):
    """Issue 13: an app's requests in flight while it refreshes still carry the old access
    token; it stays valid for its short life, while the old refresh token is spent."""
    first = login.tokens(patient.email)
    assert _refresh(client, login, first["refresh_token"]).status_code == 200
    assert client.get("/v1/me", headers=bearer(first["access_token"])).status_code == 200
    token = db.session.scalar(
        select(OAuthToken).where(OAuthToken.access_token_hash == digest(first["access_token"]))
    )
    token.expires_at = utcnow() - timedelta(seconds=1)
    db.session.flush()
    answer = client.get("/v1/me", headers=bearer(first["access_token"]))
    assert answer.status_code == 401
    assert answer.json["code"] == "invalid_token"


def test_reusing_a_spent_refresh_token_is_rejected_and_revokes_the_family(client, login, patient):
    first = login.tokens(patient.email)
    second = _refresh(client, login, first["refresh_token"]).json

    replay = _refresh(client, login, first["refresh_token"])

    assert replay.status_code == 400
    assert replay.json["error"] == "invalid_grant"
    # The thief and the victim share a family: both lose it, the patient logs in again.
    assert client.get("/v1/me", headers=bearer(second["access_token"])).status_code == 401
    assert client.get("/v1/me", headers=bearer(first["access_token"])).status_code == 401
    assert _refresh(client, login, second["refresh_token"]).json["error"] == "invalid_grant"


def test_reuse_does_not_touch_other_logins(client, login, patient):
    phone = login.tokens(patient.email)
    tablet = login.tokens(patient.email)
    _refresh(client, login, phone["refresh_token"])
    _refresh(client, login, phone["refresh_token"])
    assert client.get("/v1/me", headers=bearer(tablet["access_token"])).status_code == 200


def test_refresh_cannot_widen_scope(client, login, patient):
    tokens = login.tokens(patient.email)
    response = client.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": login.app_client.client_id,
            "scope": "patient admin",
        },
    )
    assert response.json["error"] == "invalid_scope"


def test_revoking_the_access_token_ends_it(client, login, patient):
    tokens = login.tokens(patient.email)
    response = client.post(
        "/oauth/revoke",
        data={
            "token": tokens["access_token"],
            "token_type_hint": "access_token",
            "client_id": login.app_client.client_id,
        },
    )
    assert response.status_code == 200
    denied = client.get("/v1/me", headers=bearer(tokens["access_token"]))
    assert denied.status_code == 401
    assert denied.json["code"] == "invalid_token"
    assert 'error="invalid_token"' in denied.headers["WWW-Authenticate"]


def test_revoking_the_refresh_token_ends_the_pair(client, login, patient):
    tokens = login.tokens(patient.email)
    client.post(
        "/oauth/revoke",
        data={"token": tokens["refresh_token"], "client_id": login.app_client.client_id},
    )
    assert _refresh(client, login, tokens["refresh_token"]).json["error"] == "invalid_grant"
    assert client.get("/v1/me", headers=bearer(tokens["access_token"])).status_code == 401


def test_a_client_cannot_revoke_another_clients_token(client, login, patient, org_credentials):
    tokens = login.tokens(patient.email)
    other = org_credentials("hospital")
    client.post(
        "/oauth/revoke",
        data={"token": tokens["access_token"]},
        headers=basic_auth(other.client.client_id, other.client_secret),
    )
    assert client.get("/v1/me", headers=bearer(tokens["access_token"])).status_code == 200


def test_organisation_revokes_its_own_token(client, org_credentials, token_for):
    registration = org_credentials("hospital")
    token = token_for(registration=registration)
    response = client.post(
        "/oauth/revoke",
        data={"token": token},
        headers=basic_auth(registration.client.client_id, registration.client_secret),
    )
    assert response.status_code == 200
    assert client.get("/v1/org", headers=bearer(token)).status_code == 401


def test_expired_access_token_is_refused(client, token_for):
    token = token_for("hospital")
    stored = db.session.scalar(
        select(OAuthToken).where(OAuthToken.access_token_hash == digest(token))
    )
    stored.expires_at = utcnow() - timedelta(seconds=1)
    assert client.get("/v1/org", headers=bearer(token)).status_code == 401


def test_suspended_organisation_tokens_stop_working_at_once(
    client, org_credentials, token_for, admin_token
):
    registration = org_credentials("pharma")
    token = token_for(registration=registration)
    assert client.get("/v1/org", headers=bearer(token)).status_code == 200

    suspended = client.post(
        f"/v1/admin/orgs/{registration.org.id}/suspend",
        json={"reason": "Probed patients who refused."},
        headers=bearer(admin_token),
    )
    assert suspended.json["status"] == "suspended"
    assert suspended.json["suspension_reason"] == "Probed patients who refused."

    # Refused, telling the organisation since when and why (its view of the blacklist).
    refused = client.get("/v1/org", headers=bearer(token))
    assert refused.status_code == 403
    assert refused.json["code"] == "org_suspended"
    assert refused.json["reason"] == "Probed patients who refused."
    assert refused.json["suspended_at"] == suspended.json["suspended_at"]
    new_token = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth(registration.client.client_id, registration.client_secret),
    )
    assert new_token.json["error"] == "invalid_client"

    client.post(f"/v1/admin/orgs/{registration.org.id}/resume", headers=bearer(admin_token))
    assert client.get("/v1/org", headers=bearer(token)).status_code == 200


def test_a_replayed_refresh_token_is_answered_like_an_unknown_one(client, login, patient):
    # Neither the body nor the headers may tell an attacker the token once existed.
    first = login.tokens(patient.email)
    _refresh(client, login, first["refresh_token"])

    replay = _refresh(client, login, first["refresh_token"])
    unknown = _refresh(client, login, "never-issued")

    assert replay.status_code == unknown.status_code == 400
    assert replay.json == unknown.json == {"error": "invalid_grant"}
    for answer in (replay, unknown):
        assert answer.headers["Cache-Control"] == "no-store"
        assert answer.headers["Pragma"] == "no-cache"
