"""The HTTP contract: openapi.yaml documents exactly what the app serves, and the app keeps it.

Every request any test makes is also checked against the document by the test client
(see CommittingClient in conftest.py and tests/openapi_check.py).
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from werkzeug.test import EnvironBuilder, TestResponse

from server.db import db
from tests import openapi_check
from tests.conftest import basic_auth, bearer, csrf_from, pkce_pair, ref
from tests.openapi_check import (
    SPEC_PATH,
    OpenApiViolation,
    check_response,
    documented_operations,
    load_document,
    resolve,
    served_operations,
)

# Examples per fuzzed operation; raise it locally for a deeper run.
FUZZ_EXAMPLES = int(os.environ.get("CW_CONTRACT_EXAMPLES", "25"))


# --- the document matches the app ------------------------------------------------------


def test_every_route_is_documented_and_every_documented_operation_is_served(app):
    served = set(served_operations(app))
    documented = set(documented_operations())

    undocumented = [f"{method} {path}" for path, method in sorted(served - documented)]
    unserved = [f"{method} {path}" for path, method in sorted(documented - served)]
    assert (undocumented, unserved) == ([], []), (
        "openapi.yaml and the app's routes differ.\n"
        f"Served but not documented: {undocumented}\n"
        f"Documented but not served: {unserved}"
    )


ROUTE_VARIABLE = re.compile(r"<(?:([^:<>()]+)(?:\([^)]*\))?:)?([^:<>]+)>")
CONVERTER_SCHEMAS = {
    "default": {"type": "string", "format": None},
    "string": {"type": "string", "format": None},
    "uuid": {"type": "string", "format": "uuid"},
    "int": {"type": "integer", "format": None},
}


def test_path_parameters_match_the_route_converters(app):
    wrong = []
    for (path, method), rule in served_operations(app).items():
        operation = documented_operations().get((path, method))
        if operation is None:
            continue  # reported by the test above
        item = load_document()["paths"][path]
        documented = {
            p["name"]: p
            for p in map(resolve, [*item.get("parameters", []), *operation.get("parameters", [])])
            if p["in"] == "path"
        }
        converters = {
            name: converter or "default" for converter, name in ROUTE_VARIABLE.findall(rule.rule)
        }
        for name, converter in converters.items():
            expected = CONVERTER_SCHEMAS.get(converter)
            schema = documented.get(name, {}).get("schema", {})
            if expected is None:
                wrong.append(f"{method} {path}: teach this test the <{converter}:> converter")
            elif {k: schema.get(k) for k in expected} != expected:
                wrong.append(f"{method} {path}: {name} should have the schema {expected}")
        extra = set(documented) - set(converters)
        wrong += [f"{method} {path}: documents a path parameter {name} it lacks" for name in extra]
    assert not wrong, "\n".join(wrong)


def test_each_operation_declares_the_scopes_its_route_requires(app):
    wrong = []
    for (path, method), rule in served_operations(app).items():
        operation = documented_operations().get((path, method))
        if operation is None:
            continue
        required = app.view_functions[rule.endpoint].oauth_scopes
        expected = sorted([{"oauth2": [scope]} for scope in required], key=str)
        if "security" not in operation or sorted(operation["security"], key=str) != expected:
            wrong.append(f"{method} {path}: security should be {expected} (@require{required})")
    assert not wrong, "\n".join(wrong)


def test_the_documented_scopes_are_the_ones_we_issue():
    from server import scopes

    flows = load_document()["components"]["securitySchemes"]["oauth2"]["flows"]
    documented = {scope for flow in flows.values() for scope in flow["scopes"]}
    assert documented == set(scopes.ALL)


# --- the document is valid and keeps its own conventions -------------------------------


def test_document_is_valid_openapi_3_1():
    assert SPEC_PATH.read_text(encoding="utf-8").startswith("openapi: 3.1.0\n")
    schemathesis.openapi.from_path(SPEC_PATH, config=schemathesis.Config()).validate()


def test_every_reference_resolves():
    broken = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                try:
                    resolve(node)
                except (KeyError, TypeError):
                    broken.append(f"{where}: {node['$ref']}")
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{where}/{index}")

    walk(load_document(), "#")
    assert not broken, "unresolvable $ref:\n" + "\n".join(broken)


OAUTH_PROTOCOL_ENDPOINTS = {"/oauth/token", "/oauth/revoke"}
# The login form's expired-form answer: a person in a browser gets the form again as a page.
PAGES_FOR_BROWSERS = {("/oauth/authorize", "POST", "400")}


def test_operations_follow_the_documentation_conventions():
    document = load_document()
    tags = {tag["name"] for tag in document["tags"]}
    operation_ids = [op.get("operationId") for op in documented_operations().values()]
    problems = [
        f"duplicate operationId {i}" for i in set(operation_ids) if operation_ids.count(i) > 1
    ]
    for (path, method), operation in documented_operations().items():
        where = f"{method} {path}"
        for field in ("operationId", "summary", "tags", "responses"):
            if not operation.get(field):
                problems.append(f"{where}: no {field}")
        problems += [f"{where}: undeclared tag {t}" for t in set(operation.get("tags", [])) - tags]
        for status, response in operation.get("responses", {}).items():
            response = resolve(response)
            media_types = set(response.get("content", {}))
            if status.startswith(("4", "5")):
                allowed = {"application/problem+json"}
                if path in OAUTH_PROTOCOL_ENDPOINTS and status in ("400", "401"):
                    allowed = {"application/json"}  # RFC 6749 error bodies
                if (path, method.upper(), status) in PAGES_FOR_BROWSERS:
                    allowed = {"application/problem+json", "text/html"}
                if path.startswith("/fhir/"):
                    allowed = {"application/fhir+json"}  # OperationOutcomes
                if media_types != allowed:
                    problems.append(f"{where} {status}: errors are {allowed}, not {media_types}")
            if status == "401" and "WWW-Authenticate" not in response.get("headers", {}):
                problems.append(f"{where} 401: no WWW-Authenticate header")
            if status == "429" and "Retry-After" not in response.get("headers", {}):
                problems.append(f"{where} 429: no Retry-After header")
    assert not problems, "\n".join(problems)


# --- the response check catches what it should ------------------------------------------


def _response(method: str, path: str, status: int, body: Any, content_type: str, **headers):
    request = EnvironBuilder(method=method, path=path).get_request()
    data = body if isinstance(body, str) else json.dumps(body)
    headers = {"Content-Type": content_type, "X-Request-Id": "0123456789abcdef", **headers}
    return TestResponse([data.encode()], status, headers, request)


PROBLEM_404 = {
    "type": "urn:consent-wallet:problem:not_found",
    "title": "Not Found",
    "status": 404,
    "code": "not_found",
}
PROBLEM_401 = {**PROBLEM_404, "status": 401, "code": "unauthorized"}
PROBLEM_405 = {**PROBLEM_404, "status": 405, "code": "method_not_allowed"}
JSON, PROBLEM = "application/json", "application/problem+json"
OK = {"status": "ok"}


@pytest.mark.parametrize(
    ("method", "path", "status", "body", "content_type"),
    [
        pytest.param("GET", "/healthz", 201, OK, JSON, id="status"),
        pytest.param("GET", "/healthz", 200, OK, "text/plain", id="media-type"),
        pytest.param("GET", "/healthz", 200, {**OK, "x": 1}, JSON, id="extra-field"),
        pytest.param("GET", "/healthz", 200, {}, JSON, id="missing-field"),
        pytest.param("GET", "/healthz", 500, {}, PROBLEM, id="server-error"),
        pytest.param("GET", "/v1/me", 401, PROBLEM_401, PROBLEM, id="no-challenge"),
        pytest.param("GET", "/nowhere", 200, OK, JSON, id="unknown-path"),
        pytest.param("GET", "/nowhere", 404, {"code": "not_found"}, PROBLEM, id="bad-problem"),
        pytest.param("DELETE", "/healthz", 405, PROBLEM_405, PROBLEM, id="405-without-allow"),
        pytest.param("PUT", "/healthz", 200, OK, JSON, id="unknown-method"),
    ],
)
def test_the_response_check_rejects_undocumented_answers(method, path, status, body, content_type):
    with pytest.raises(OpenApiViolation):
        check_response(_response(method, path, status, body, content_type))


def test_the_response_check_accepts_common_errors_on_any_path():
    check_response(_response("GET", "/nowhere", 404, PROBLEM_404, PROBLEM))
    check_response(_response("PUT", "/healthz", 405, PROBLEM_405, PROBLEM, Allow="GET"))
    check_response(_response("GET", "/healthz", 200, OK, JSON))


# --- fuzzing: generated requests get documented answers, never a 5xx --------------------

# Operations whose only input is the X-Request-Id header.
INPUTLESS_OPERATIONS = [
    operation["operationId"]
    for path, item in load_document()["paths"].items()
    for method, operation in item.items()
    if method in openapi_check.HTTP_METHODS
    and "requestBody" not in operation
    and all(
        resolve(p)["in"] == "header"
        for p in [*item.get("parameters", []), *operation.get("parameters", [])]
    )
]
FUZZ_CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {
            "mode": "all",  # valid and invalid requests
            "max-examples": FUZZ_EXAMPLES,
            "deterministic": True,  # the same cases every run: no flaky suite
            "database": "none",  # no example database: every run starts from the same cases
        },
        "phases": {"examples": {"enabled": False}, "stateful": {"enabled": False}},
        "operations": [
            {
                # Nothing to vary but the X-Request-Id header: a few cases are plenty.
                "include-operation-id": INPUTLESS_OPERATIONS,
                "generation": {"max-examples": 5},
            }
        ],
    }
)
fuzz_schema = schemathesis.openapi.from_path(SPEC_PATH, config=FUZZ_CONFIG)
CHECKS = openapi_check.CHECKS


@pytest.fixture
def hospital(org_credentials):
    """A hospital, holding every organisation scope but admin."""
    return org_credentials("hospital")


@pytest.fixture
def hospital_token(token_for, hospital) -> str:
    return token_for(registration=hospital)


@pytest.fixture
def a_consent_id(client, patient_token) -> str:
    """A consent of the fuzzing patient, granted to hospitals."""
    body = {
        "grantee": {"org_type": "hospital"},
        "data_categories": ["lab_results"],
        "purposes": ["TREAT"],
        "actions": ["use"],
    }
    response = client.post("/v1/me/consents", json=body, headers=bearer(patient_token))
    assert response.status_code == 201, response.json
    return response.json["id"]


@pytest.fixture
def a_request_id(client, hospital_token, patient) -> str:
    """A pending request of the fuzzing hospital to the fuzzing patient."""
    body = {
        "patient_ref": ref(hospital_token, patient),
        "justification": "Follow-up of your treatment.",
        "expires_at": "2099-01-01T00:00:00Z",
        "data_categories": ["lab_results"],
        "purposes": ["TREAT"],
        "actions": ["use"],
    }
    response = client.post("/v1/consent-requests", json=body, headers=bearer(hospital_token))
    assert response.status_code == 201, response.json
    return response.json["id"]


@pytest.fixture
def an_org_id(hospital) -> str:
    return str(hospital.org.id)


# Real resources for generated ids to point at, so fuzzing gets past the 404.
EXISTING = {"consent_id": "a_consent_id", "request_id": "a_request_id", "org_id": "an_org_id"}
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _token_for(case, request: pytest.FixtureRequest) -> str | None:
    """A real token that passes the operation's scope check, so fuzzing reaches the body."""
    requirements = case.operation.definition.raw.get("security", [])
    scopes = {scope for requirement in requirements for scope in requirement.get("oauth2", [])}
    if not scopes:
        return None
    if "patient" in scopes:
        return request.getfixturevalue("patient_token")
    if scopes == {"admin"}:
        return request.getfixturevalue("admin_token")
    return request.getfixturevalue("hospital_token")


def _point_at_existing(case, request: pytest.FixtureRequest) -> None:
    """Let a generated, well-formed id name a resource that exists (malformed ones stay)."""
    for name, value in (case.path_parameters or {}).items():
        if name in EXISTING and isinstance(value, str) and UUID.fullmatch(value):
            case.path_parameters[name] = request.getfixturevalue(EXISTING[name])
    # A real public client at the token and revocation endpoints, so that fuzzing gets past
    # client authentication into the grants and the revocation itself.
    body = case.body
    if case.operation.path in ("/oauth/token", "/oauth/revoke") and isinstance(body, dict):
        client_id = body.get("client_id")
        if isinstance(client_id, str) and client_id.isascii() and client_id.isprintable():
            body["client_id"] = request.getfixturevalue("patient_app").client_id


@fuzz_schema.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
def test_fuzzed_requests_get_documented_answers(case, app, session, request):
    """Valid and invalid requests to every operation: never a 5xx, always a documented
    status, media type, headers and body. All inside the test's rolled-back transaction."""
    token = _token_for(case, request)
    headers = {"Authorization": f"Bearer {token}"} if token else None
    _point_at_existing(case, request)
    db.session.commit()  # the fixtures' setup, as the test client does
    response = case.call(app=app, headers=headers)
    case.validate_response(response, checks=CHECKS, headers=headers)


# --- app bugs the contract found, kept failing until fixed -------------------------------


# --- bugs the contract found that are fixed: kept so they stay fixed ----------------------
# Each answered 500 or an undocumented answer before; the test client checks the answer now.


@pytest.mark.parametrize("hint", ["jeton_d'accès", "it's", "a\\b"])
def test_revoking_with_an_unquotable_token_type_hint_is_a_400(client, hospital, hint):
    response = client.post(
        "/oauth/revoke",
        data={"token": "whatever", "token_type_hint": hint},
        headers=basic_auth(hospital.client.client_id, hospital.client_secret),
    )
    assert response.status_code == 400
    assert response.json["error"] == "unsupported_token_type"


def test_sign_up_with_an_email_that_grows_when_lower_cased_is_not_a_server_error(client):
    # 'İ' lower-cases to two characters: checked at 254, the stored e-mail was longer.
    email = "İ" * 64 + "@" + ".".join(["d" * 60] * 3) + ".org"
    assert len(email) <= 254 < len(email.lower())
    body = {"email": email, "password": "purple tuesday kettles", "display_name": "Ann"}
    response = client.post("/v1/patients", json=body)
    assert response.status_code == 422
    assert response.json["errors"] == {"email": ["Longer than 254 characters."]}


def test_unsupported_token_type_hint_is_a_400(client, hospital):
    response = client.post(
        "/oauth/revoke",
        data={"token": "whatever", "token_type_hint": "id_token"},
        headers=basic_auth(hospital.client.client_id, hospital.client_secret),
    )
    assert response.status_code == 400
    assert response.json["error"] == "unsupported_token_type"


@pytest.mark.parametrize("field", ["password", "display_name"])
def test_sign_up_with_a_lone_surrogate_is_refused(client, field):
    body = {
        "email": "surrogate@example.org",
        "password": "purple tuesday kettles",
        "display_name": "Ann",
    }
    body[field] += "\ud800"  # json.dumps sends it as the escape \\ud800
    response = client.post("/v1/patients", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 422


def test_the_export_answers_iso_8601_like_the_rest_of_the_api(client, patient_token):
    export = client.get("/v1/me/export", headers=bearer(patient_token)).json
    assert datetime.fromisoformat(export["exported_at"])


def _consent_body(**overrides):
    return {
        "grantee": {"org_type": "hospital"},
        "data_categories": ["lab_results"],
        "purposes": ["TREAT"],
        "actions": ["use"],
        **overrides,
    }


def test_nul_in_json_text_is_refused(client, patient_token, hospital_token, patient, a_consent_id):
    request_body = {
        "patient_ref": ref(hospital_token, patient),
        "justification": "Follow-up\x00",
        "expires_at": "2099-01-01T00:00:00Z",
        "data_categories": ["lab_results"],
        "purposes": ["TREAT"],
        "actions": ["use"],
    }
    answers = [
        client.post(
            "/v1/patients",
            json={
                "email": "nul@example.org",
                "password": "purple tuesday kettles",
                "display_name": "A\x00B",
            },
        ),
        client.post(
            f"/v1/me/consents/{a_consent_id}/revoke",
            json={"reason": "moved\x00away"},
            headers=bearer(patient_token),
        ),
        client.post("/v1/consent-requests", json=request_body, headers=bearer(hospital_token)),
    ]
    assert [a.status_code for a in answers] == [422, 422, 422]


@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("/oauth/token", {"grant_type": "authorization_code", "client_id": "app\x00", "code": "x"}),
        ("/oauth/revoke", {"token": "x", "client_id": "app\x00"}),
    ],
)
def test_nul_at_the_oauth_endpoints_is_an_oauth_error(client, path, form):
    assert client.post(path, data=form).status_code == 400


def test_nul_in_the_authorization_request_or_login_is_a_problem(client, login):
    _, challenge = pkce_pair()
    params = login.authorize_params(challenge)
    form = client.get("/oauth/authorize", query_string=params)
    answers = [
        client.get("/oauth/authorize", query_string={**params, "client_id": "app\x00"}),
        client.post(
            "/oauth/authorize",
            query_string=params,
            data={
                "email": "a\x00@example.org",
                "password": "x",
                "csrf_token": csrf_from(form.text),
            },
        ),
    ]
    assert [a.status_code for a in answers] == [400, 400]


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"response_type": "cöde"}, id="response_type"),
        pytest.param({"redirect_uri": "https://app.example/callbäck"}, id="redirect_uri"),
    ],
)
def test_authorize_with_characters_oauth_cannot_quote_is_a_problem(client, login, method, params):
    # authlib quotes these into an error_description, where RFC 6749 forbids such characters.
    _, challenge = pkce_pair()
    query = login.authorize_params(challenge, **params)
    response = client.open("/oauth/authorize", method=method, query_string=query)
    assert response.status_code == 400  # answered here: never redirected with such characters
    assert response.json["code"] == "invalid_authorization_request"


@pytest.mark.parametrize(
    ("field", "timestamp"),
    [("valid_until", "9999-12-31T23:59:59-12:00"), ("valid_from", "0001-01-01T00:00:00+01:00")],
)
def test_timestamps_beyond_the_calendar_in_utc_are_refused(client, patient_token, field, timestamp):
    body = _consent_body(**{field: timestamp})
    response = client.post("/v1/me/consents", json=body, headers=bearer(patient_token))
    assert response.status_code == 422


def test_updated_since_beyond_the_calendar_in_utc_is_refused(client, hospital_token):
    query = {"updated_since": "0001-01-01T00:00:00+01:00"}
    response = client.get("/v1/consents", query_string=query, headers=bearer(hospital_token))
    assert response.status_code == 422
