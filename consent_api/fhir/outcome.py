"""Errors as FHIR speaks them: our problem document, rendered as an OperationOutcome.

Every error under /fhir/ goes through here (server.errors asks, see `errors.add_dialect`),
so a FHIR client gets an OperationOutcome whatever failed: a route's refusal, a bearer
check, routing, an unexpected error. The stable problem `code` stays machine-readable in
each issue's `details.coding`, under our code system.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

FHIR_JSON = "application/fhir+json"
PROBLEM_SYSTEM = "https://consent-wallet.example/fhir/CodeSystem/problem"

# FHIR issue types (http://hl7.org/fhir/issue-type) by HTTP status.
ISSUE_TYPES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    408: "timeout",
    409: "conflict",
    413: "too-long",
    414: "too-long",
    415: "not-supported",
    422: "processing",
    429: "throttled",
    501: "not-supported",
    503: "transient",
}
# Where our code says more than the status: a 422 is a processing issue (an unknown
# patient), unless the input itself was invalid.
ISSUE_TYPES_BY_CODE = {"validation_failed": "invalid"}


def issue_type(status: int, code: str) -> str:
    """Return the FHIR issue type of an error."""
    fallback = "exception" if status >= 500 else "processing"
    return ISSUE_TYPES_BY_CODE.get(code) or ISSUE_TYPES.get(status, fallback)


def operation_outcome(problem: Mapping[str, Any]) -> dict[str, Any]:
    """Return a problem document as an OperationOutcome: one issue per invalid field (its
    `expression` names it), else one issue with the problem's detail."""
    status, code = problem["status"], problem["code"]
    base = {
        "severity": "fatal" if status >= 500 else "error",
        "code": issue_type(status, code),
        "details": {"coding": [{"system": PROBLEM_SYSTEM, "code": code}], "text": problem["title"]},
    }
    fields = list(_field_messages(problem.get("errors") or {}))
    if fields:
        issues = [
            {**base, "diagnostics": " ".join(messages), **({"expression": [path]} if path else {})}
            for path, messages in fields
        ]
    else:
        issues = [{**base, "diagnostics": _diagnostics(problem)}]
    return {"resourceType": "OperationOutcome", "issue": issues}


def rendered(problem: Mapping[str, Any]) -> tuple[str, str]:
    """Return a problem document as OperationOutcome JSON and its media type (the error
    dialect of /fhir/, see server.errors.add_dialect)."""
    # Not sorted: resourceType first, as FHIR's readers expect.
    return json.dumps(operation_outcome(problem)), FHIR_JSON


def _diagnostics(problem: Mapping[str, Any]) -> str:
    detail = problem.get("detail") or problem["title"]
    if problem["status"] >= 500 and problem.get("request_id"):
        # A problem document carries it as a member; an OperationOutcome has no place for it.
        return f"{detail} (request_id {problem['request_id']})"
    return detail


def _field_messages(errors: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, list]]:
    """Yield (field path, its messages) for each invalid field; the object's own messages
    (`_schema`) have no path."""
    for name, value in errors.items():
        path = prefix if name == "_schema" else f"{prefix}.{name}" if prefix else str(name)
        if isinstance(value, Mapping):
            yield from _field_messages(value, path)
        else:
            yield path, [str(m) for m in value] if isinstance(value, list) else [str(value)]
