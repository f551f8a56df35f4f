"""Errors under /fhir/ are FHIR OperationOutcomes carrying our stable problem code; the rest
of the API keeps its problem documents."""

from __future__ import annotations

import uuid

import pytest
from fhir.resources.operationoutcome import OperationOutcome

from tests.conftest import bearer
from tests.support import PROBLEM_SYSTEM

FHIR_JSON = "application/fhir+json"


def outcome(response, status: int) -> dict:
    """Expect a valid OperationOutcome with this status; return it."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == FHIR_JSON
    OperationOutcome.model_validate(response.json)
    assert next(iter(response.json)) == "resourceType"
    return response.json


def problem_codes(issue: dict) -> list[str]:
    return [c["code"] for c in issue["details"]["coding"] if c["system"] == PROBLEM_SYSTEM]


def test_an_unknown_consent_is_a_not_found_outcome(client, patient_token):
    response = client.get(f"/fhir/R5/Consent/{uuid.uuid4()}", headers=bearer(patient_token))

    [issue] = outcome(response, 404)["issue"]
    assert issue["severity"] == "error"
    assert issue["code"] == "not-found"
    assert problem_codes(issue) == ["not_found"]
    assert issue["diagnostics"] == "No consent with this id."


def test_no_token_is_a_login_outcome_with_its_challenge(client):
    response = client.get(f"/fhir/R5/Consent/{uuid.uuid4()}")

    [issue] = outcome(response, 401)["issue"]
    assert issue["code"] == "login"
    assert problem_codes(issue) == ["unauthorized"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_token_without_the_scope_is_a_forbidden_outcome_with_its_challenge(client, token_for):
    token = token_for("hospital", scopes="consent.check")

    response = client.get("/fhir/R5/Consent", query_string={"patient": "x"}, headers=bearer(token))

    [issue] = outcome(response, 403)["issue"]
    assert issue["code"] == "forbidden"
    assert problem_codes(issue) == ["insufficient_scope"]
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


def test_an_invalid_search_names_the_parameter_in_its_issue(client, patient_token):
    response = client.get(
        "/fhir/R5/Consent", query_string={"patient": "not-a-uuid"}, headers=bearer(patient_token)
    )

    [issue] = outcome(response, 422)["issue"]
    assert issue["code"] == "invalid"
    assert issue["expression"] == ["patient"]
    assert problem_codes(issue) == ["validation_failed"]
    assert issue["diagnostics"] == "Not a valid UUID."


@pytest.mark.parametrize(
    ("method", "path", "status", "issue_type"),
    [
        ("GET", "/fhir/R5/Patient/123", 404, "not-found"),
        ("GET", "/fhir/R5/Consent/not-a-uuid", 404, "not-found"),
        ("DELETE", "/fhir/R5/Consent", 405, "not-supported"),
    ],
)
def test_routing_errors_under_fhir_are_outcomes(client, method, path, status, issue_type):
    response = client.open(path, method=method)

    [issue] = outcome(response, status)["issue"]
    assert issue["code"] == issue_type
    if status == 405:
        assert response.headers["Allow"]


def test_errors_elsewhere_stay_problem_documents(client):
    response = client.get("/v1/nowhere")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert response.json["code"] == "not_found"
