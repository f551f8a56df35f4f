"""One error contract: every error is application/problem+json (RFC 9457) with a stable code,
or that same problem in the dialect of the paths that speak another (`add_dialect`)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask, Response, current_app, g, has_request_context, json, request
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.http import HTTP_STATUS_CODES

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

# Stable machine codes for the HTTP errors Werkzeug raises on our behalf.
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "request_timeout",
    409: "conflict",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    417: "expectation_failed",
    422: "validation_failed",
    429: "rate_limited",
    431: "header_fields_too_large",
    500: "internal_error",
    501: "not_implemented",
    503: "unavailable",
}
# Headers an error must keep: Allow on 405, Retry-After on 429/503, the challenge on 401/403.
KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")
# Where the app keeps the error dialects of its paths (see add_dialect).
DIALECTS = "problem_dialects"

# Renders a problem document another way: its text and media type.
Dialect = Callable[[Mapping[str, Any]], tuple[str, str]]


class Problem(Exception):
    """A domain or protocol error that the boundary renders as a problem document."""

    status = 400
    code = "bad_request"
    title = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        errors: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.code = code or self.code
        self.status = status or self.status
        self.errors = errors
        self.headers = dict(headers or {})
        self.extra = extra


class Unauthorized(Problem):
    """The request carries no valid credentials."""

    status, code, title = 401, "unauthorized", "Unauthorized"


class Forbidden(Problem):
    """The caller is known but not allowed to do this."""

    status, code, title = 403, "forbidden", "Forbidden"


class NotFound(Problem):
    """The resource does not exist, or the caller may not know that it does."""

    status, code, title = 404, "not_found", "Not found"


class Conflict(Problem):
    """The request conflicts with the current state of the resource."""

    status, code, title = 409, "conflict", "Conflict"


class ValidationFailed(Problem):
    """The body or query string failed validation; `errors` names each field."""

    status, code, title = 422, "validation_failed", "Validation failed"


class KeptRefusal(Problem):
    """An error answer whose writes must stand: the transaction boundary commits them rather
    than rolling them back (a refused data use stays on record with the patient's alert; a
    replayed refresh token's family stays revoked)."""


def problem_document(
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    *,
    errors: Mapping[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Return one problem document as a dict: for answers made outside a request too (the
    WSGI server's own)."""
    body: dict[str, Any] = {
        "type": f"urn:consent-wallet:problem:{code}",
        "title": title,
        "status": status,
        "code": code,
    }
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    body.update(extra)
    return body


def problem_response(
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    *,
    errors: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> Response:
    """Render one problem document."""
    if g.get("request_id"):
        extra = {"request_id": g.request_id, **extra}
    body = problem_document(status, code, title, detail, errors=errors, **extra)
    dialect = _dialect()
    text, mimetype = dialect(body) if dialect else (json.dumps(body), PROBLEM_JSON)
    response = Response(text, status=status, mimetype=mimetype)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def add_dialect(app: Flask, prefix: str, dialect: Dialect) -> None:
    """Answer the problems of requests under the path `prefix` in another dialect (FHIR's
    OperationOutcome under /fhir/): the same problem, status, code and headers, whatever
    raised it (a route, the bearer check, routing, an unexpected error)."""
    app.extensions.setdefault(DIALECTS, {})[prefix] = dialect


def _dialect() -> Dialect | None:
    if not has_request_context():
        return None
    dialects = current_app.extensions.get(DIALECTS, {})
    return next((d for prefix, d in dialects.items() if request.path.startswith(prefix)), None)


def render_problem(exc: Problem) -> Response:
    """Render a Problem exception as its problem document."""
    return _from_problem(exc)


def _from_problem(exc: Problem) -> Response:
    return problem_response(
        exc.status,
        exc.code,
        HTTP_STATUS_CODES.get(exc.status, "Error"),
        exc.detail,
        errors=exc.errors,
        headers=exc.headers,
        **exc.extra,
    )


def _from_http(exc: HTTPException) -> Response:
    if isinstance(exc, InternalServerError):
        return render_unexpected(exc.original_exception or exc)
    status = exc.code or 500
    kept = {k: v for k, v in exc.get_headers() if k in KEPT_HEADERS}
    return problem_response(
        status,
        HTTP_CODES.get(status, "http_error"),
        HTTP_STATUS_CODES.get(status, "Error"),
        exc.description,
        headers=kept,
    )


def render_unexpected(exc: BaseException) -> Response:
    """Log an unexpected exception in full, keyed by request id, and answer a generic 500
    that leaks nothing."""
    log.error("unhandled exception (request_id=%s)", g.get("request_id"), exc_info=exc)
    return problem_response(
        500, "internal_error", "Internal Server Error", "The error was logged; quote request_id."
    )


def init_app(app: Flask) -> None:
    """Render every error, expected or not, through the one problem contract."""
    app.register_error_handler(Problem, _from_problem)
    app.register_error_handler(HTTPException, _from_http)
    app.register_error_handler(Exception, render_unexpected)
