"""The patient edits their profile and changes their password (issue 13)."""

from __future__ import annotations

import pytest

from tests.conftest import TEST_PASSWORD, bearer

NEW_PASSWORD = "a brand new passphrase for the wallet"


def test_the_patient_changes_their_display_name(client, patient_token):
    answer = client.patch("/v1/me", json={"display_name": "Dana D."}, headers=bearer(patient_token))
    assert answer.status_code == 200
    assert answer.json["display_name"] == "Dana D."
    assert client.get("/v1/me", headers=bearer(patient_token)).json["display_name"] == "Dana D."


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"display_name": ""}, "display_name"),
        ({"display_name": "x" * 101}, "display_name"),
        ({"email": "new@example.org"}, "email"),  # a new address needs proving: not here
        ({"display_name": None}, "display_name"),
        ({"display_name": "   "}, "display_name"),  # review finding: blank was accepted
        ({"display_name": "\u200b"}, "display_name"),  # second review: invisible is blank
        ({"display_name": "\u200b\u2060 "}, "display_name"),
    ],
)
def test_a_bad_profile_edit_names_the_field_and_changes_nothing(client, patient_token, body, field):
    before = client.get("/v1/me", headers=bearer(patient_token)).json
    answer = client.patch("/v1/me", json=body, headers=bearer(patient_token))
    assert answer.status_code == 422
    assert field in answer.json["errors"]
    assert client.get("/v1/me", headers=bearer(patient_token)).json == before


def _change(client, token, current, new):
    return client.post(
        "/v1/me/password",
        json={"current_password": current, "new_password": new},
        headers=bearer(token),
    )


def _refresh(client, login, refresh_token):
    return client.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": login.app_client.client_id,
        },
    )


def test_a_password_change_ends_the_other_sessions_and_keeps_this_one(client, login, patient):
    phone, tablet = login.tokens(patient.email), login.tokens(patient.email)
    answer = _change(client, phone["access_token"], TEST_PASSWORD, NEW_PASSWORD)
    assert answer.status_code == 204
    assert client.get("/v1/me", headers=bearer(phone["access_token"])).status_code == 200
    assert _refresh(client, login, phone["refresh_token"]).status_code == 200
    assert client.get("/v1/me", headers=bearer(tablet["access_token"])).status_code == 401
    assert _refresh(client, login, tablet["refresh_token"]).json["error"] == "invalid_grant"
    assert login.tokens(patient.email, NEW_PASSWORD)["access_token"]


def test_the_old_password_no_longer_signs_in(client, login, patient, patient_token):
    assert _change(client, patient_token, TEST_PASSWORD, NEW_PASSWORD).status_code == 204
    from consent_api.patients import service

    assert service.authenticate(patient.email, TEST_PASSWORD) is None
    assert service.authenticate(patient.email, NEW_PASSWORD) is not None


@pytest.mark.parametrize(
    ("current", "new", "field"),
    [
        ("not my password at all", NEW_PASSWORD, "current_password"),
        (TEST_PASSWORD, "password123", "new_password"),  # too short and too common
        (TEST_PASSWORD, "qwertyuiop123", "new_password"),  # long enough, but guessable
        (TEST_PASSWORD, TEST_PASSWORD, "new_password"),  # review finding: the same one
    ],
)
def test_a_refused_password_change_names_the_field_and_changes_nothing(
    client, patient, patient_token, current, new, field
):
    answer = _change(client, patient_token, current, new)
    assert answer.status_code == 422
    assert field in answer.json["errors"]
    from consent_api.patients import service

    assert service.authenticate(patient.email, TEST_PASSWORD) is not None
    assert client.get("/v1/me", headers=bearer(patient_token)).status_code == 200
