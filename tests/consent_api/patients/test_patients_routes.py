"""Patient sign-up and profile."""

import pytest
from sqlalchemy import func, select

from consent_api.patients.models import Patient
from server.app import create_app
from server.db import db
from server.ratelimit import limiter
from tests.conftest import app_config, bearer

SIGN_UP = {"email": "Ann@Example.org", "password": "long enough password", "display_name": "Ann"}


def test_sign_up_creates_a_patient_with_a_hashed_password(client):
    response = client.post("/v1/patients", json=SIGN_UP)

    assert response.status_code == 201
    assert set(response.json) == {"id", "email", "display_name"}
    assert response.json["email"] == "ann@example.org"
    assert response.headers["Location"].endswith("/v1/me")
    stored = db.session.scalar(select(Patient).where(Patient.email == "ann@example.org"))
    assert stored.password_hash.startswith("$argon2id$")
    assert SIGN_UP["password"] not in stored.password_hash


def test_duplicate_email_is_a_409_problem_whatever_its_case(client):
    assert client.post("/v1/patients", json=SIGN_UP).status_code == 201
    again = client.post("/v1/patients", json={**SIGN_UP, "email": "ANN@example.org"})
    assert again.status_code == 409
    assert again.mimetype == "application/problem+json"
    assert again.json["code"] == "email_taken"


@pytest.mark.parametrize(
    "password",
    ["aaaaaaaaaa", "1234567890", "password123", "qwertyuiop", "iloveyou12", "Ann@Example.org"],
)
def test_common_and_guessable_passwords_are_refused_naming_the_field(client, password):
    """Issue 10, finding 16 (NIST SP 800-63B): length alone let 'aaaaaaaaaa' through."""
    response = client.post("/v1/patients", json={**SIGN_UP, "password": password})
    assert response.status_code == 422, response.json
    assert "password" in response.json["errors"]
    assert db.session.scalar(select(func.count()).select_from(Patient)) == 0


@pytest.mark.parametrize(
    ("display_name", "password"),
    [
        ("Alice Smith", "alicesmith!!"),
        ("Alice Smith", "Smith-Alice-1"),
        ("Jonathan Appleseed", "jonathan.appleseed1"),
        ("Ann", "Consent-Wallet1"),
    ],
)
def test_passwords_built_from_the_name_or_the_service_are_refused(client, display_name, password):
    """Found by the outside review: zxcvbn scored these 3 or 4 (separators and a digit)."""
    body = {**SIGN_UP, "display_name": display_name, "password": password}
    response = client.post("/v1/patients", json=body)
    assert response.status_code == 422, response.json
    assert "password" in response.json["errors"]


def test_a_long_passphrase_without_composition_rules_is_accepted(client):
    response = client.post("/v1/patients", json={**SIGN_UP, "password": "purple tuesday kettles"})
    assert response.status_code == 201, response.json


def test_an_email_with_spaces_around_it_is_trimmed(client):
    """Found by the outside review: the contract says e-mails are stored trimmed."""
    response = client.post("/v1/patients", json={**SIGN_UP, "email": "  Ann@Example.org "})
    assert response.status_code == 201, response.json
    assert response.json["email"] == "ann@example.org"


def test_short_password_is_rejected(client):
    response = client.post("/v1/patients", json={**SIGN_UP, "password": "short"})
    assert response.status_code == 422
    assert "password" in response.json["errors"]


def test_me_returns_the_calling_patient_only(client, login, patient):
    from tests.factories import PatientFactory

    other = PatientFactory()
    token = login.tokens(other.email)["access_token"]
    me = client.get("/v1/me", headers=bearer(token))
    assert me.json["id"] == str(other.id)
    assert me.json["id"] != str(patient.id)


def test_new_patient_can_log_in_through_the_app(client, login):
    client.post("/v1/patients", json=SIGN_UP)
    tokens = login.tokens("ann@example.org", SIGN_UP["password"])
    assert client.get("/v1/me", headers=bearer(tokens["access_token"])).status_code == 200


def test_sign_up_is_rate_limited_per_client_address(database_url):
    application = create_app(app_config(database_url, RATELIMIT_SIGNUP="2 per minute"))
    limiter.reset()
    web = application.test_client()
    bad = {"email": "not-an-email"}  # rejected by validation, but still counted
    assert web.post("/v1/patients", json=bad).status_code == 422
    assert web.post("/v1/patients", json=bad).status_code == 422
    limited = web.post("/v1/patients", json=bad)
    assert limited.status_code == 429
    assert limited.mimetype == "application/problem+json"
    assert limited.json["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) > 0
    limiter.reset()


def test_login_is_rate_limited(database_url):
    application = create_app(app_config(database_url, RATELIMIT_LOGIN="1 per minute"))
    limiter.reset()
    web = application.test_client()
    # The limit applies before anything else is looked at, so even a bogus POST counts.
    assert web.post("/oauth/authorize").status_code == 400
    limited = web.post("/oauth/authorize")
    assert limited.status_code == 429
    assert limited.json["code"] == "rate_limited"
    limiter.reset()
