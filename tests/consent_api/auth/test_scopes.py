"""Default deny: every route declares its scope, and the scope is enforced."""

import pytest
from flask import Blueprint

from server.app import create_app
from server.guard import check_routes_declare_scopes
from tests.conftest import app_config, bearer


def test_every_served_route_declares_a_scope_or_public(app):
    for endpoint, view in app.view_functions.items():
        assert hasattr(view, "oauth_scopes"), endpoint


def test_an_undeclared_route_stops_the_app_from_starting(database_url):
    application = create_app(app_config(database_url))
    forgotten = Blueprint("forgotten", __name__)
    forgotten.add_url_rule("/v1/leak", "leak", lambda: "everything")
    application.register_blueprint(forgotten)
    with pytest.raises(RuntimeError, match=r"forgotten\.leak"):
        check_routes_declare_scopes(application)


def test_no_token_is_401_with_a_bearer_challenge(client):
    response = client.get("/v1/me")
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.json["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="consent-wallet"')


def test_garbage_token_is_401_invalid_token(client):
    response = client.get("/v1/me", headers=bearer("not-a-token"))
    assert response.status_code == 401
    assert response.json["code"] == "invalid_token"


def test_non_bearer_scheme_is_401(client):
    response = client.get("/v1/me", headers={"Authorization": "Basic Zm9vOmJhcg=="})
    assert response.status_code == 401


def test_organisation_token_cannot_read_patient_routes(client, token_for):
    response = client.get("/v1/me", headers=bearer(token_for("hospital")))
    assert response.status_code == 403
    assert response.json["code"] == "insufficient_scope"
    challenge = response.headers["WWW-Authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="patient"' in challenge


def test_patient_token_cannot_use_admin_routes(client, patient_token):
    response = client.get("/v1/admin/orgs", headers=bearer(patient_token))
    assert response.status_code == 403
    assert response.json["code"] == "insufficient_scope"


def test_hospital_token_cannot_use_admin_routes(client, token_for):
    response = client.post(
        "/v1/admin/orgs",
        json={"name": "Rogue", "type": "hospital"},
        headers=bearer(token_for("hospital")),
    )
    assert response.status_code == 403


def test_patient_token_cannot_read_an_organisation_profile(client, patient_token):
    assert client.get("/v1/org", headers=bearer(patient_token)).status_code == 403


def test_token_narrowed_to_one_scope_only_reaches_that_scope(client, token_for):
    token = token_for("hospital", scopes="consent.read")
    assert client.get("/v1/org", headers=bearer(token)).status_code == 200
