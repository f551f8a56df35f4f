"""Check real HTTP responses against openapi.yaml, the project's contract.

`check_response(response)` takes a Werkzeug test response, finds the documented operation
by matching the request's path against the document's path templates, and fails with an
`OpenApiViolation` unless the response is documented: its status, its media type, its
required headers and, for JSON bodies, the body against the schema of that status.
Schemathesis does the checking, with the same checks the contract fuzzing uses.

Kept out of the contract on purpose:
- OPTIONS, which Flask answers by itself on every route;
- the bodies of 302 redirects and of text/html pages (their status, media type and
  headers are still checked);
- HEAD, checked as the GET it mirrors, status only, since it has no body.

Errors that any path can give and the document states once: a path that matches no
template must answer `404` (components/responses/NotFound); a documented path asked
with a method it does not serve must answer `405` (MethodNotAllowed), or `404` when a
path parameter does not convert (e.g. a non-UUID id). Under /fhir/ the same errors are
OperationOutcomes (FhirNotFound, FhirMethodNotAllowed), as every error there is.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema_rs
import schemathesis
import yaml
from flask import Flask
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from werkzeug.routing import Rule
from werkzeug.test import TestResponse

SPEC_PATH = Path(__file__).resolve().parent.parent / "openapi.yaml"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# What is still checked when the body is out of the contract (redirects, HTML pages).
CHECKS_WITHOUT_BODY = [c for c in CHECKS if c is not response_schema_conformance]


# The errors any path can give, by status: the component that documents them.
COMMON_ERRORS = {404: "NotFound", 405: "MethodNotAllowed"}
FHIR_COMMON_ERRORS = {404: "FhirNotFound", 405: "FhirMethodNotAllowed"}


class OpenApiViolation(AssertionError):
    """A response that openapi.yaml does not document."""


@dataclass(frozen=True)
class _Template:
    path: str
    pattern: re.Pattern[str]
    methods: frozenset[str]


@functools.cache
def load_document() -> dict[str, Any]:
    """Return openapi.yaml as a plain dictionary (parsed once per run; do not mutate it)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(SPEC_PATH.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506


@functools.cache
def schema() -> schemathesis.BaseSchema:
    """The contract, loaded by schemathesis once per run."""
    return schemathesis.openapi.from_dict(
        copy.deepcopy(load_document()), config=schemathesis.Config()
    )


@functools.cache
def _templates() -> tuple[_Template, ...]:
    templates = []
    for path, item in load_document()["paths"].items():
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path))
        methods = frozenset(m.upper() for m in item if m in HTTP_METHODS)
        templates.append(_Template(path, re.compile(f"^{regex}$"), methods))
    # Literal segments win over parameters, as in the router: /consents/revoke-all is not an id.
    return tuple(sorted(templates, key=lambda t: t.path.count("{")))


def match_path(path: str) -> tuple[_Template, dict[str, str]] | None:
    """Return the documented path template `path` falls under, with its parameters."""
    for template in _templates():
        found = template.pattern.match(path)
        if found:
            return template, found.groupdict()
    return None


@functools.cache
def _component_validator(response_name: str, media_type: str) -> Any:
    document = load_document()
    pointer = f"#/components/responses/{response_name}/content/{media_type.replace('/', '~1')}"
    return jsonschema_rs.Draft202012Validator(
        {"$ref": f"{pointer}/schema", "components": document["components"]},
        validate_formats=True,
    )


def _fail(response: TestResponse, why: str) -> OpenApiViolation:
    request = response.request
    body = response.get_data(as_text=True)
    return OpenApiViolation(
        f"{request.method} {request.full_path.rstrip('?')} answered {response.status_code} "
        f"({response.content_type or 'no content type'}), which openapi.yaml does not "
        f"document: {why}\nbody: {body[:500]}"
    )


def _check_common_error(response: TestResponse, allowed: dict[int, str]) -> None:
    """Check an error documented once for every path (404, 405) against its component."""
    name = allowed.get(response.status_code)
    if name is None:
        raise _fail(response, f"expected one of {sorted(allowed)}")
    document = load_document()
    definition = document["components"]["responses"][name]
    for header, spec in definition.get("headers", {}).items():
        spec = resolve(spec)
        if spec.get("required") and header not in response.headers:
            raise _fail(response, f"the {header} header is missing")
    media_type = response.mimetype
    if media_type not in definition["content"]:
        raise _fail(response, f"expected {', '.join(definition['content'])}")
    try:
        data = json.loads(response.get_data(as_text=True))
    except ValueError:
        raise _fail(response, "the body is not JSON") from None
    errors = [e.message for e in _component_validator(name, media_type).iter_errors(data)]
    if errors:
        raise _fail(response, f"components/responses/{name}: " + "; ".join(errors))


def served_operations(app: Flask) -> dict[tuple[str, str], Rule]:
    """Every (spec-style path, METHOD) the app serves, with its rule (HEAD and OPTIONS,
    which Flask adds by itself, left out)."""
    served = {}
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[^:<>]+:)?([^:<>]+)>", r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            served[path, method] = rule
    return served


def documented_operations() -> dict[tuple[str, str], dict[str, Any]]:
    """Every (path, METHOD) openapi.yaml documents, with its operation object."""
    return {
        (path, method.upper()): operation
        for path, item in load_document()["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }


def resolve(node: Any) -> Any:
    """Follow local $refs (#/...) until `node` is a definition."""
    document = load_document()
    while isinstance(node, dict) and "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def check_response(response: TestResponse) -> None:
    """Fail with an OpenApiViolation unless openapi.yaml documents this response."""
    __tracebackhide__ = True
    request = response.request
    method = request.method.upper()
    if method == "OPTIONS":
        return
    matched = match_path(request.path)
    common = FHIR_COMMON_ERRORS if request.path.startswith("/fhir/") else COMMON_ERRORS
    if matched is None:
        _check_common_error(response, {404: common[404]})
        return
    template, path_parameters = matched
    documented_method = "GET" if method == "HEAD" else method
    if documented_method not in template.methods:
        _check_common_error(response, common)
        return
    operation = schema()[template.path][documented_method]
    if method == "HEAD":
        checks = [status_code_conformance]
    elif response.status_code in (301, 302, 303, 307, 308) or response.mimetype == "text/html":
        checks = CHECKS_WITHOUT_BODY
    else:
        checks = CHECKS
    case = operation.Case(path_parameters=path_parameters, query=request.args.to_dict())
    try:
        case.validate_response(response, checks=checks)
    except FailureGroup as exc:
        raise OpenApiViolation(
            f"{method} {request.full_path.rstrip('?')} answered {response.status_code}, "
            f"which openapi.yaml does not document for {operation.label}:\n{exc.message}"
        ) from None
