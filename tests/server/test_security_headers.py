"""Security headers on every answer: API, error and the login form; HSTS only in production."""

import pytest

from server.app import create_app
from tests.conftest import app_config, bearer

API_CSP = "default-src 'none'; frame-ancestors 'none'"


def _common(response) -> None:
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_an_api_answer_carries_the_security_headers(client, patient_token):
    response = client.get("/v1/me", headers=bearer(patient_token))

    assert response.status_code == 200
    _common(response)
    assert response.headers["Content-Security-Policy"] == API_CSP
    assert "Strict-Transport-Security" not in response.headers


@pytest.mark.parametrize("path", ["/v1/me", "/no-such-path"])
def test_an_error_answer_carries_the_security_headers(client, path):
    response = client.get(path)

    assert response.status_code in (401, 404)
    assert response.mimetype == "application/problem+json"
    _common(response)
    assert response.headers["Content-Security-Policy"] == API_CSP


def test_the_login_form_cannot_be_framed_and_loads_nothing(login):
    form = login.client.get("/oauth/authorize", query_string=login.authorize_params("x" * 43))

    assert form.status_code == 200
    assert form.mimetype == "text/html"
    _common(form)
    policy = {
        directive.split()[0]: directive.split()[1:]
        for directive in form.headers["Content-Security-Policy"].split("; ")
    }
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["default-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]


def test_hsts_only_in_production(database_url, signing_key_file):
    production = create_app(
        app_config(
            database_url,
            APP_ENV="production",
            ISSUER="https://wallet.example",
            PSEUDONYM_KEY="p" * 48,
            WEBHOOK_ALLOW_LOCAL=False,
            SIGNING_KEY_FILE=signing_key_file,
        )
    )
    answer = production.test_client().get("/healthz")

    assert answer.headers["Strict-Transport-Security"] == "max-age=31536000"
    _common(answer)
