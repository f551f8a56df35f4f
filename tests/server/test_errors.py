"""Every error is application/problem+json with a stable code; bad input changes nothing."""

import json
import logging

import pytest
from sqlalchemy import func, select

from consent_api.patients.models import Patient
from server.app import create_app
from server.db import db
from server.guard import public
from tests.conftest import app_config

SIGN_UP = {"email": "ann@example.org", "password": "long enough password", "display_name": "Ann"}


def _patients() -> int:
    return db.session.scalar(select(func.count()).select_from(Patient))


def _assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.json
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"urn:consent-wallet:problem:{code}"
    assert body["title"]
    return body


def test_malformed_json_is_a_400_problem_and_writes_nothing(client):
    before = _patients()
    response = client.post(
        "/v1/patients", data='{"email": "x@example.org",', content_type="application/json"
    )
    _assert_problem(response, 400, "malformed_json")
    assert _patients() == before


@pytest.mark.parametrize("depth", [65, 1_000, 100_000])
def test_json_nested_too_deep_is_a_400_problem_and_writes_nothing(client, depth):
    """Issue 10, finding 4: deep nesting was a 500 (RecursionError) on every JSON route."""
    before = _patients()
    nested = "[" * depth + "]" * depth
    body = json.dumps(SIGN_UP)[:-1] + f', "x": {nested}}}'
    response = client.post("/v1/patients", data=body, content_type="application/json")
    answer = _assert_problem(response, 400, "json_too_deep")
    assert "64" in answer["detail"]
    assert _patients() == before


def test_json_nested_too_deep_is_refused_on_an_authenticated_write(client, hospital_token):
    nested = "[" * 5_000 + "]" * 5_000
    response = client.post(
        "/v1/data-uses",
        data=f'{{"patient_id": {nested}}}',
        content_type="application/json",
        headers={"Authorization": f"Bearer {hospital_token}", "Idempotency-Key": "deep-1"},
    )
    _assert_problem(response, 400, "json_too_deep")


def test_json_nested_to_the_allowed_depth_is_read(client):
    nested = "[" * 63 + "]" * 63  # 64 levels with the object around it
    body = json.dumps(SIGN_UP)[:-1] + f', "x": {nested}}}'
    response = client.post("/v1/patients", data=body, content_type="application/json")
    assert response.status_code == 422, response.json  # read, then refused as an unknown field
    assert "x" in response.json["errors"]


def test_wrong_content_type_is_a_415_problem(client):
    response = client.post("/v1/patients", data=SIGN_UP)  # form-encoded, not JSON
    _assert_problem(response, 415, "unsupported_media_type")


def test_body_over_the_configured_size_is_a_413_problem(client):
    huge = json.dumps({**SIGN_UP, "display_name": "x" * 2_000_000})
    response = client.post("/v1/patients", data=huge, content_type="application/json")
    _assert_problem(response, 413, "payload_too_large")


def test_a_json_array_body_is_a_validation_problem(client):
    response = client.post("/v1/patients", json=[SIGN_UP])
    body = _assert_problem(response, 422, "validation_failed")
    assert "_schema" in body["errors"]


def test_unknown_fields_are_rejected_by_name(client):
    before = _patients()
    response = client.post("/v1/patients", json={**SIGN_UP, "is_admin": True})
    body = _assert_problem(response, 422, "validation_failed")
    assert set(body["errors"]) == {"is_admin"}
    assert _patients() == before


@pytest.mark.parametrize(
    ("field", "value"),
    [("email", 42), ("email", "not-an-email"), ("password", ["a"]), ("display_name", None)],
)
def test_wrong_types_name_the_field(client, field, value):
    response = client.post("/v1/patients", json={**SIGN_UP, field: value})
    body = _assert_problem(response, 422, "validation_failed")
    assert field in body["errors"]


def test_missing_fields_are_each_named(client):
    response = client.post("/v1/patients", json={})
    body = _assert_problem(response, 422, "validation_failed")
    assert set(body["errors"]) == {"email", "password", "display_name"}


def test_unknown_path_is_a_404_problem(client):
    _assert_problem(client.get("/v1/nothing-here"), 404, "not_found")


def test_wrong_method_is_a_405_problem_that_keeps_allow(client):
    response = client.delete("/v1/patients")
    _assert_problem(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]


def test_unknown_uuid_in_path_is_a_404_problem(client, admin_token):
    from tests.conftest import bearer

    response = client.get("/v1/admin/orgs/not-a-uuid", headers=bearer(admin_token))
    _assert_problem(response, 404, "not_found")


def test_unexpected_exception_is_logged_with_request_id_and_leaks_nothing(database_url, caplog):
    application = create_app(app_config(database_url))

    @application.get("/boom")
    @public
    def boom():
        raise RuntimeError("secret internals: password=hunter2")

    caplog.set_level(logging.ERROR)
    response = application.test_client().get("/boom", headers={"X-Request-Id": "req-12345678"})
    body = _assert_problem(response, 500, "internal_error")
    assert "hunter2" not in response.get_data(as_text=True)
    assert body["request_id"] == "req-12345678"
    logged = [r for r in caplog.records if "req-12345678" in r.getMessage()]
    assert logged
    assert logged[0].exc_info[0] is RuntimeError


def test_nul_characters_in_json_are_refused_by_field(client):
    response = client.post("/v1/patients", json={**SIGN_UP, "display_name": "An\x00n"})
    body = _assert_problem(response, 422, "validation_failed")
    assert set(body["errors"]) == {"display_name"}


def test_nul_characters_in_query_strings_are_refused_by_parameter(client, patient_token):
    from tests.conftest import bearer

    response = client.get("/v1/me/consents?cursor=a%00b", headers=bearer(patient_token))
    body = _assert_problem(response, 422, "validation_failed")
    assert set(body["errors"]) == {"cursor"}


def test_nul_at_the_token_endpoint_keeps_the_oauth_error_body(client):
    response = client.post(
        "/oauth/token", data={"grant_type": "client_credentials", "client_id": "a\x00b"}
    )
    assert response.status_code == 400
    assert response.json["error"] == "invalid_request"


def test_timestamps_beyond_utc_range_are_a_validation_error(client, patient_token):
    from tests.conftest import bearer

    body = {
        "grantee": {"org_type": "hospital"},
        "data_categories": ["lab_results"],
        "purposes": ["TREAT"],
        "actions": ["use"],
        "valid_until": "9999-12-31T23:59:59-05:00",
    }
    response = client.post("/v1/me/consents", json=body, headers=bearer(patient_token))
    body = _assert_problem(response, 422, "validation_failed")
    assert "valid_until" in body["errors"]
