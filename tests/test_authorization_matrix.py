"""The authorization matrix: every operation in openapi.yaml, by every kind of caller.

The operations come from openapi.yaml, so a route added there is in the matrix without a test
written for it, and every route the app serves must be there (the first test). What each
caller should get comes from the operation's `security` (the OAuth scopes, any one of which
admits a caller) and from whose ids fill its parameters:

- a public operation (`security: []`) answers every caller alike, bearer or not;
- no token is 401 `unauthorized`; a token the server never issued, an expired or revoked one,
  is 401 `invalid_token`; one of a suspended organisation is 403 `org_suspended`;
- a valid token without a scope the operation admits is 403 `insufficient_scope`;
- the rightful caller, on its own ids, succeeds (2xx);
- a caller of the right kind on someone else's ids: 404 `not_found` when those ids are in the
  path (the API answers alike for "not yours" and "does not exist"); otherwise it succeeds on
  its own data (a list, a search) unless `ON_OTHERS_IDS` says otherwise; and whatever it gets,
  no id private to the owner appears in the answer. No refused answer carries one either.

Ids come from one fixture world (tests/authz_world.py), built once per module through the API
with real tokens; each cell runs in a savepoint rolled back after it, so destructive cells
(erasure, revoke-all, suspension, withdrawal) leave the world as it was for the next.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from consent_api.links import service as links
from consent_api.patients.models import Patient
from server import scopes
from server.db import db, utcnow
from server.ratelimit import limiter
from tests import authz_world
from tests.authz_world import CALLER_NAMES, SCOPE, Caller, Party, World
from tests.conftest import REDIRECT_URI, TEST_PASSWORD, pkce_pair, rolled_back
from tests.consent_api.studies.test_studies_routes import study_body
from tests.openapi_check import (
    check_response,
    documented_operations,
    load_document,
    match_path,
    resolve,
    served_operations,
)
from tests.support import problem_code

# --- the operations, read from openapi.yaml ----------------------------------------------


def _kind_of(scope: str) -> str:
    return {scopes.PATIENT: "patient", scopes.ADMIN: "admin"}.get(scope, "org")


@dataclass(frozen=True)
class Operation:
    """One documented operation, with what the matrix needs to call it."""

    id: str
    method: str
    path: str
    requirements: tuple[frozenset[str], ...]  # any one admits; () is public
    path_params: tuple[str, ...]
    required_query: tuple[str, ...]
    required_headers: tuple[str, ...]
    body_type: str | None  # the request body's media type, if it has one

    @property
    def public(self) -> bool:
        return not self.requirements

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds of party that may call it (patient, org, admin), in the document's order."""
        found = [_kind_of(s) for requirement in self.requirements for s in sorted(requirement)]
        return tuple(dict.fromkeys(found))

    def admits(self, granted: frozenset[str]) -> bool:
        return any(requirement <= granted for requirement in self.requirements)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _operation(path: str, method: str, operation: dict[str, Any]) -> Operation:
    item = load_document()["paths"][path]
    parameters = [
        resolve(p) for p in [*item.get("parameters", []), *operation.get("parameters", [])]
    ]
    if "security" not in operation:
        raise AssertionError(f"{method} {path}: openapi.yaml must declare its security")
    requirements = tuple(frozenset(r.get("oauth2", [])) for r in operation["security"])
    body = resolve(operation.get("requestBody", {}))
    return Operation(
        id=operation["operationId"],
        method=method,
        path=path,
        requirements=tuple(r for r in requirements if r),
        path_params=tuple(p["name"] for p in parameters if p["in"] == "path"),
        required_query=tuple(
            p["name"] for p in parameters if p["in"] == "query" and p.get("required")
        ),
        required_headers=tuple(
            p["name"] for p in parameters if p["in"] == "header" and p.get("required")
        ),
        body_type=next(iter(body.get("content", {})), None),
    )


OPERATIONS = [
    _operation(path, method, op) for (path, method), op in documented_operations().items()
]


# --- filling parameters from the world ---------------------------------------------------

# How each parameter is filled: for a caller of each kind, which of its owner's ids (see
# Party.ids in tests/authz_world.py). A new parameter needs a rule here, and the id in the world.
FILL: dict[str, dict[str, str]] = {
    "consent_id": {"patient": "consent", "org": "consent"},
    "request_id": {"patient": "pending_request", "org": "pending_request"},
    "notification_id": {"patient": "notification"},
    "device_id": {"patient": "device"},
    "link_id": {"patient": "link", "org": "link"},
    "org_id": {"admin": "org"},
    "reward_id": {"admin": "reward"},
    "endpoint_id": {"org": "webhook", "admin": "webhook"},
    "study_id": {"org": "study", "admin": "study"},
    "incident_id": {"admin": "incident"},
    "delivery_id": {"org": "delivery"},
    "entry_id": {"patient": "audit_entry"},
    "patient": {"patient": "patient_id", "org": "patient_ref"},  # the FHIR search
    "version_id": {"patient": "consent_version", "org": "consent_version"},  # of "consent"
}
# Parameters that name nobody's data, filled alike for every caller.
FIXED: dict[str, str] = {
    "asset": "start.js",  # a file of the public API reference (/docs)
    "rule": "burst",  # an abuse rule: the operator's settings, nobody's data
}
# Optional query parameters the matrix fills all the same, by operationId (one of them is
# needed, as with the FHIR search's `patient` or `patient:identifier`).
FILLED_QUERY: dict[str, tuple[str, ...]] = {"searchFhirConsents": ("patient",)}
# Where one operation needs another of the owner's ids than the parameter's rule gives.
FILL_FOR_OPERATION: dict[tuple[str, str], str] = {
    ("resumeConsent", "consent_id"): "paused_consent",  # only a paused consent resumes
}


def _idempotency_key(caller: Caller, owner: Party) -> str:
    """A fresh key; but on another's ids, the key the owner used in the world: keys are kept
    per caller, so it must not replay the owner's answer."""
    if caller.on_others_ids and "idempotency_key" in owner.ids:
        return owner.ids["idempotency_key"]
    return uuid.uuid4().hex


# Required headers the matrix sends, from the caller and the owner of the ids.
HEADERS: dict[str, Callable[[Caller, Party], str]] = {"Idempotency-Key": _idempotency_key}


def _authorize_query(world: World) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": world.app_client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "patient",
        "state": "xyz",
        "code_challenge": pkce_pair()[1],
        "code_challenge_method": "S256",
    }


# Query strings beyond the required parameters (the login form needs a whole request).
QUERIES: dict[str, Callable[[World], dict[str, str]]] = {
    "showLoginForm": _authorize_query,
    "submitLogin": _authorize_query,
}


def _use(owner: Party, world: World) -> dict[str, Any]:
    return {
        "patient_ref": owner.ids["patient_ref"],
        "data_categories": ["lab_results"],
        "purpose": "TREAT",
        "action": "use",
        "record_count": 1,
        "occurred_at": utcnow().isoformat(),
    }


def _check(owner: Party, world: World) -> dict[str, Any]:
    return {
        "patient_ref": owner.ids["patient_ref"],
        "data_category": "lab_results",
        "purpose": "TREAT",
        "action": "use",
    }


def _consult(owner: Party, world: World) -> dict[str, Any]:
    """A CDS Hooks consult about the first patient, by the owner's MRN of her."""
    patient = {"system": owner.ids["mrn_system"], "value": "first-patient"}
    return {
        "hook": "patient-consent-consult",
        "hookInstance": str(uuid.uuid4()),
        "context": {
            "patientId": [patient],
            "actor": [{"system": "urn:ietf:rfc:3986", "value": "urn:oid:2.16.840.1.113883.3"}],
            "purposeOfUse": ["TREAT"],
        },
    }


def _redeem(owner: Party, world: World) -> dict[str, Any]:
    """A fresh code of the first patient's, made as her app would (the service, in the cell)."""
    patient = db.session.get(Patient, uuid.UUID(world.parties["p1"].ids["patient_id"]))
    issued = links.create_code(patient, {}, now=utcnow())
    return {"code": issued.code, "identifier": {"system": "urn:oid:1.2.3", "value": "new"}}


# Request bodies that the rightful caller's call succeeds with, by operationId: a function of
# the owner (whose ids the caller sends) and the world. An operation with a body and no entry
# is sent `{}`: still in the matrix, but its rightful cell then fails (422) until one is added.
BODIES: dict[str, Callable[[Party, World], dict[str, Any]]] = {
    "submitLogin": lambda o, w: {"email": "nobody@example.org", "password": "x", "csrf_token": "x"},
    "issueToken": lambda o, w: {
        "grant_type": "refresh_token",
        "refresh_token": "never-issued",
        "client_id": w.app_client_id,
    },
    "revokeToken": lambda o, w: {"token": "never-issued", "client_id": w.app_client_id},
    "signUpPatient": lambda o, w: {
        "email": f"new-{uuid.uuid4().hex}@example.org",
        "password": TEST_PASSWORD,
        "display_name": "New Patient",
    },
    "createOrganisation": lambda o, w: {"name": "New Research", "type": "research"},
    "createApp": lambda o, w: {"name": "Another app", "redirect_uris": [REDIRECT_URI]},
    "dismissIncident": lambda o, w: {"note": "A clinic's catch-up after an outage."},
    "changeAbuseRule": lambda o, w: {"thresholds": {"max_events": 40}},
    "suspendOrganisation": lambda o, w: {"reason": "Scraping."},
    "setMyEmergencyAccess": lambda o, w: {"allowed": False},
    "grantConsent": lambda o, w: {"grantee": {"org_type": "hospital"}, **SCOPE},
    "revokeAllForOrganisation": lambda o, w: {"org_id": w.parties["first-hospital"].ids["org"]},
    "amendConsent": lambda o, w: {"max_uses": 5},
    "revokeConsent": lambda o, w: {"reason": "changed my mind"},
    "requestConsent": lambda o, w: {
        "patient_ref": o.ids["patient_ref"],
        "justification": "A study of lab results.",
        "expires_at": (utcnow() + timedelta(days=7)).isoformat(),
        **SCOPE,
        "purposes": ["HRESCH"],  # another question than the world's pending request
    },
    "approveRequest": lambda o, w: {},
    "denyRequest": lambda o, w: {"reason": "not now"},
    "createLinkCode": lambda o, w: {},
    "redeemLinkCode": _redeem,
    "checkConsent": _check,
    "checkConsentBatch": lambda o, w: {"checks": [_check(o, w)]},
    "consultPatientConsent": _consult,
    "reportDataUse": _use,
    "redeemPoints": lambda o, w: {"reward_id": w.parties["operator"].ids["reward"]},
    "createReward": lambda o, w: {"name": "Mug", "cost": 5},
    "setPointsTerms": lambda o, w: {"commission_bp": 1500, "patient_share_bp": 6000},
    "countCohort": lambda o, w: {**SCOPE, "purposes": ["HRESCH"], "epsilon": 0.01},
    "setPrivacyBudget": lambda o, w: {"total_epsilon": 2.0, "renews_every_days": 30},
    "registerDevice": lambda o, w: {"token": f"fcm-{uuid.uuid4().hex}", "platform": "web"},
    "replaceMyNotificationPreferences": lambda o, w: {"data_uses": "daily_digest"},
    "createWebhookEndpoint": lambda o, w: {"url": "http://127.0.0.1:9/other-hooks"},
    "changeWebhookEndpoint": lambda o, w: {"description": "the mirror's endpoint"},
    "editMyOrganisationProfile": lambda o, w: {"website": "https://matrix.example"},
    "editMyProfile": lambda o, w: {"display_name": "Renamed"},
    "registerStudy": lambda o, w: study_body(),
    "approveStudy": lambda o, w: {},
    "rejectStudy": lambda o, w: {"reason": "No ethics approval on file."},
    "setMyResearchPreferences": lambda o, w: {
        "opted_in": True,
        "purposes": ["HRESCH"],
        "data_categories": ["lab_results"],
        "org_types": ["research"],
    },
    "changeMyPassword": lambda o, w: {
        "current_password": TEST_PASSWORD,
        "new_password": "a brand new passphrase for the wallet",
    },
}

# What the rightful caller gets when that is not a 2xx, and why (a public operation's answer
# to a request the matrix cannot make succeed).
RIGHTFUL_ANSWER: dict[str, tuple[int, str]] = {
    "submitLogin": (400, "csrf_failed"),
    "issueToken": (400, "invalid_grant"),
}

# A caller of the right kind, on another's ids, where the ids are not in the path: what it
# gets when that is not a 2xx, with the problem code.
ON_OTHERS_IDS: dict[str | tuple[str, str], tuple[int, str]] = {  # by operation (and kind)
    # The first organisation's reference of the patient names nobody for the second.
    "reportDataUse": (422, "unknown_patient"),
    "checkConsent": (422, "unknown_patient"),
    "checkConsentBatch": (422, "unknown_patient"),
    "requestConsent": (422, "unknown_patient"),
    # A patient searching another patient's id finds nothing of theirs: an empty Bundle.
    ("searchFhirConsents", "org"): (422, "unknown_patient"),
    # The second patient has no points to spend.
    "redeemPoints": (409, "insufficient_points"),
    # The second organisation links no patient under the first's MRN.
    "consultPatientConsent": (422, "unknown_patient"),
}


# Operations whose others' cell succeeds on the caller's own data (a list, a search, a check):
# the owner's answer must show some of its private ids, so that the others' answer, which must
# show none, is a real test of ownership and not an empty answer for everyone.
SHOWS_OWNER_IDS = {
    "exportMyData",
    "listMyAuditEntries",
    "listMyConsents",
    "revokeAllForOrganisation",
    "listMyRequests",
    "listMyAccessLog",
    "listMyPointsStatement",
    "listMyNotifications",
    "listMyDevices",
    "listMyLinks",
    "listGrantedConsents",
    "listMyOrganisationRequests",
    "searchFhirConsents",
    "checkConsent",
    "checkConsentBatch",
    "consultPatientConsent",
    "reportDataUse",
    "listMyDataUses",
    "listEvents",
    "listWebhookEndpoints",
}


class CannotFill(Exception):
    """The matrix has no rule for one of an operation's parameters."""


def _owner(operation: Operation, caller: Caller, world: World) -> Party:
    """Whose ids fill the call: the caller's owner when its kind may call the operation,
    else the operation's rightful owner (so refused callers are refused on real ids)."""
    if caller.owner is not None and caller.owner.kind in operation.kinds:
        return caller.owner
    kind = operation.kinds[0] if operation.kinds else "patient"
    return world.party_of_kind(kind)


def _fill(operation: Operation, name: str, owner: Party) -> str:
    if name in FIXED:
        return FIXED[name]
    key = FILL_FOR_OPERATION.get((operation.id, name)) or FILL.get(name, {}).get(owner.kind)
    if key is None or key not in owner.ids:
        raise CannotFill(
            f"{operation} ({operation.id}): the matrix cannot fill the parameter {name!r} for "
            f"a {owner.kind} caller. Add a rule to FILL in tests/test_authorization_matrix.py "
            f"and give the {owner.kind} parties of tests/authz_world.py the id it names."
        )
    return owner.ids[key]


@dataclass(frozen=True)
class Call:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: dict[str, Any] | None

    def sent_ids(self) -> str:
        return f"{self.path} {self.query} {self.body}"


def _call(operation: Operation, caller: Caller, world: World) -> Call:
    owner = _owner(operation, caller, world)
    path = operation.path
    for name in operation.path_params:
        path = path.replace(f"{{{name}}}", _fill(operation, name, owner))
    query = QUERIES.get(operation.id, lambda w: {})(world)
    query |= {
        name: _fill(operation, name, owner)
        for name in (*operation.required_query, *FILLED_QUERY.get(operation.id, ()))
        if name not in query
    }
    headers = {h: HEADERS[h](caller, owner) for h in operation.required_headers}
    headers |= caller.headers()
    body = None
    if operation.body_type is not None:
        make = BODIES.get(operation.id)
        body = make(owner, world) if make else {}
    return Call(path, query, headers, body)


# --- what each cell expects ---------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """The status a cell must get (None: any 2xx) and the problem code of a refusal."""

    status: int | None
    code: str | None = None
    why: str = ""

    @property
    def refused(self) -> bool:
        return self.status in (401, 403, 404)


def expected(operation: Operation, caller: Caller) -> Expected:
    """The outcome the matrix pins for one cell, from the operation's security and whose ids
    the caller sends."""
    if operation.public:
        status, code = RIGHTFUL_ANSWER.get(operation.id, (None, None))
        return Expected(status, code, "a public operation answers everyone alike")
    if caller.token is None:
        return Expected(401, "unauthorized", "no token")
    if not caller.valid:
        return Expected(*caller.refused_as, "a token the server does not accept")
    if not operation.admits(caller.scopes):
        return Expected(403, "insufficient_scope", f"needs one of {operation.requirements}")
    if caller.on_others_ids:
        if operation.path_params:
            return Expected(404, "not_found", "someone else's ids in the path")
        status, code = ON_OTHERS_IDS.get(
            (operation.id, caller.party.kind), ON_OTHERS_IDS.get(operation.id, (None, None))
        )
        return Expected(status, code, "the caller's own data only")
    status, code = RIGHTFUL_ANSWER.get(operation.id, (None, None))
    return Expected(status, code, "the rightful caller on its own ids")


# --- the world, once per module; each cell in a savepoint ---------------------------------


@pytest.fixture(scope="module")
def world(app: Flask) -> Iterator[tuple[World, Any]]:
    """The fixture world in one outer transaction, rolled back after the module."""
    with rolled_back(app) as connection:
        built = authz_world.build(app.test_client())
        db.session.commit()
        yield built, connection


class MatrixClient(FlaskClient):
    """The suite's test client (it commits the setup, and checks the answer against
    openapi.yaml), except that each kind of answer is checked once per module: once per
    operation, status and problem code. The matrix gets the same 401, 403 and 404 hundreds of
    times, and checking every copy took a third of its run time; the rest of the suite checks
    every answer it gets."""

    checked: set[tuple[Any, ...]] = set()

    def open(self, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        db.session.commit()
        response = super().open(*args, **kwargs)
        matched = match_path(response.request.path)
        code = problem_code(response.json) if response.is_json else None
        key = (response.request.method, matched and matched[0].path, response.status_code, code)
        if key not in self.checked:
            check_response(response)
            self.checked.add(key)
        return response


@pytest.fixture
def cell(app: Flask, world: tuple[World, Any]) -> Iterator[tuple[World, FlaskClient]]:
    """The world and a client, inside a savepoint rolled back after the cell."""
    built, connection = world
    savepoint = connection.begin_nested()
    limiter.reset()
    try:
        yield built, MatrixClient(app, app.response_class)
    finally:
        db.session.remove()
        savepoint.rollback()


# --- the tests ------------------------------------------------------------------------------


def test_every_served_route_is_in_the_matrix(app):
    in_matrix = {(op.path, op.method.upper()) for op in OPERATIONS}
    missing = sorted(f"{m} {p}" for p, m in set(served_operations(app)) - in_matrix)
    assert not missing, f"served but not in openapi.yaml, so not in the matrix: {missing}"


def test_the_matrix_can_fill_every_parameter_of_every_operation():
    problems = []
    for operation in OPERATIONS:
        given = QUERIES.get(operation.id, lambda w: {})(SimpleNamespace(app_client_id="app"))
        for kind in operation.kinds or ("patient",):
            for name in (*operation.path_params, *operation.required_query):
                if name in given:
                    continue
                try:
                    _fill(operation, name, Party("anyone", kind, _AnyId()))
                except CannotFill as missing:
                    problems.append(str(missing))
        problems += [
            f"{operation}: no way to send the required header {h}: add it to HEADERS"
            for h in operation.required_headers
            if h not in HEADERS
        ]
    assert not problems, "\n".join(problems)


class _AnyId(dict):
    """The ids of a party that has every kind of id: to ask whether a rule exists."""

    def __contains__(self, key: object) -> bool:
        return True

    def __getitem__(self, key: str) -> str:
        return str(uuid.uuid4())


CELLS = [
    pytest.param(operation, caller, id=f"{operation} as {caller}")
    for operation in OPERATIONS
    for caller in CALLER_NAMES
]


@pytest.mark.parametrize(("operation", "caller_name"), CELLS)
def test_cell(cell, operation: Operation, caller_name: str):
    world, client = cell
    caller = world.callers[caller_name]
    try:
        call = _call(operation, caller, world)
    except CannotFill as missing:
        pytest.fail(str(missing), pytrace=False)
    want = expected(operation, caller)
    kwargs: dict[str, Any] = {"query_string": call.query, "headers": call.headers}
    if call.body is not None:
        kwargs["json" if operation.body_type == "application/json" else "data"] = call.body
    response = client.open(call.path, method=operation.method.upper(), **kwargs)

    got = response.status_code
    text = response.get_data(as_text=True)
    where = f"{operation} as {caller.name} ({want.why}): got {got} {text[:300]}"
    if got == 422 and operation.body_type and operation.id not in BODIES:
        where += f"\nThe matrix sent {{}}: add a body for {operation.id} to BODIES."
    if want.status is None:
        assert 200 <= got < 300, where
    else:
        assert got == want.status, where
    if want.code is not None and response.is_json:
        assert problem_code(response.json) == want.code, where
    if got == 401:
        assert response.headers.get("WWW-Authenticate", "").startswith("Bearer"), where

    # Nothing private to someone else in the answer: the owner's ids when the caller sends
    # another's, anyone's in a refusal (ids the request itself carried aside).
    if caller.on_others_ids:
        private = caller.owner.private
    elif want.refused:
        private = {i for party in world.parties.values() for i in party.private}
    else:
        private = set()
    leaked = sorted(i for i in private if i in text and i not in call.sent_ids())
    assert not leaked, f"{where}\nleaks ids private to another: {leaked}"
    # ...and where the owner's own answer does show them, so that this proves something.
    if operation.id in SHOWS_OWNER_IDS and not want.refused and not caller.on_others_ids:
        assert any(i in text for i in caller.owner.private), f"{where}\nshows none of its own"
