"""Request plumbing shared by every route: request ids, schema-driven parsing and rendering."""

from __future__ import annotations

import functools
import logging
import re
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, current_app, g, request, url_for
from marshmallow import Schema, ValidationError, fields
from marshmallow.experimental.context import Context
from werkzeug.exceptions import BadRequest

from server.db import utcnow
from server.errors import Problem, ValidationFailed
from server.jsonio import MAX_DEPTH, TooDeep

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
# JSON escapes that can decode to text we cannot store: NUL, and UTF-16 surrogates (a lone
# one cannot be encoded as UTF-8). Only bodies holding one are walked, to keep parsing cheap.
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89abcdefABCDEF])")


class RequestIdFilter(logging.Filter):
    """Stamp each log record with the current request id, if any."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            record.request_id = g.get("request_id", "-")
        except RuntimeError:  # outside a request or app context
            record.request_id = "-"
        return True


def issuer() -> str:
    """This server's public base URL, its issuer identifier (RFC 8414): `ISSUER` when
    configured, else the request's own root, which comes from its `Host` header (or from a
    trusted proxy's `X-Forwarded-Host`)."""
    return current_app.config["ISSUER"].rstrip("/") or request.url_root.rstrip("/")


def external_url(endpoint: str, **values: Any) -> str:
    """The absolute URL of a view, under `issuer()`: with `ISSUER` set, a forged `Host`
    header cannot move links elsewhere (Flask's `url_for(_external=True)` would follow it)."""
    path = url_for(endpoint, **values)  # the app's script root, then the view's path
    return issuer() + path[len(request.script_root) :]


def json_body() -> dict[str, Any]:
    """Return the request's JSON object, or raise a problem that says what is wrong with it."""
    if not request.is_json:
        raise Problem(
            "Send the body as application/json.",
            status=415,
            code="unsupported_media_type",
        )
    try:
        data = request.get_json()
    except BadRequest as exc:
        if _caused_by(exc, TooDeep):
            raise Problem(
                f"The body nests deeper than {MAX_DEPTH} levels.", code="json_too_deep"
            ) from exc
        raise Problem("The body is not valid JSON.", code="malformed_json") from exc
    if _SUSPECT_ESCAPE.search(request.get_data(cache=True)):
        refuse_nul(data)
    if not isinstance(data, dict):
        raise ValidationFailed(
            "The body must be a JSON object.", errors={"_schema": ["Expected a JSON object."]}
        )
    return data


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    """Whether `kind` is in the chain of exceptions that led to `exc`."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _unstorable(text: str) -> bool:
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _nul_paths(value: Any, path: str = "") -> list[str]:
    if isinstance(value, str):
        return [path or "_schema"] if _unstorable(value) else []
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return []
    found = []
    for key, item in items:
        if isinstance(key, str) and _unstorable(key):
            found.append(path or "_schema")
        found += _nul_paths(item, f"{path}.{key}" if path else str(key))
    return found


def refuse_nul(data: Any) -> None:
    # PostgreSQL text cannot hold NUL, nor UTF-8 a lone surrogate; no field of ours needs them.
    paths = _nul_paths(data)
    if paths:
        message = ["Text may not contain NUL characters or unpaired surrogates."]
        raise ValidationFailed(errors=dict.fromkeys(paths, message))


def load(schema: Schema, data: Any) -> Any:
    """Validate data with a schema, turning marshmallow's errors into a 422 problem."""
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise ValidationFailed(errors=_messages(exc)) from exc


def _messages(exc: ValidationError) -> dict[str, Any]:
    messages = exc.messages
    return messages if isinstance(messages, dict) else {"_schema": messages}


def body(schema: type[Schema], *, optional: bool = False, partial: bool = False) -> Callable:
    """Parse and validate the JSON body with `schema`; the view receives it as `body=`.

    With `optional`, an empty body reads as `{}` (for bodies like an optional reason); with
    `partial`, no field is required (PATCH-like bodies).
    """

    def decorator(view: Callable) -> Callable:
        loader = schema(partial=partial)  # schemas keep no per-call state: build one, reuse

        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            empty = optional and not request.get_data(cache=True)
            data = {} if empty else json_body()
            return view(*args, body=load(loader, data), **kwargs)

        return wrapper

    return decorator


def query(schema: type[Schema]) -> Callable:
    """Parse and validate the query string with `schema`; the view receives it as `query=`."""

    def decorator(view: Callable) -> Callable:
        loader = schema()

        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            repeated = sorted(
                {name for name in request.args if len(request.args.getlist(name)) > 1}
            )
            if repeated:  # which one was meant? not ours to guess
                raise ValidationFailed(
                    errors={name: ["Give this parameter once."] for name in repeated}
                )
            params = request.args.to_dict()
            refuse_nul(params)
            return view(*args, query=load(loader, params), **kwargs)

        return wrapper

    return decorator


class UTCDateTime(fields.AwareDateTime):
    """An ISO 8601 timestamp, returned in UTC; one without an offset is read as UTC."""

    def _deserialize(self, value, attr, data, **kwargs):
        parsed = super()._deserialize(value, attr, data, **kwargs)
        try:
            return parsed.astimezone(UTC)
        except OverflowError as exc:  # e.g. 0001-01-01T00:00+01:00 is before year 1 in UTC
            raise ValidationError("Out of the supported range of dates.") from exc


class JSONBoolean(fields.Boolean):
    """JSON's true or false, nothing else: marshmallow's Boolean takes 1, "yes" and "on", and
    a set of {True} still holds 1 (1 == True in Python)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


def when(**kwargs) -> UTCDateTime:
    """A timestamp field, normalised to UTC."""
    return UTCDateTime(default_timezone=UTC, **kwargs)


class Rendering(Context):
    """What output schemas may read while they dump (marshmallow's context): `now`, the
    moment the representation describes (effective statuses depend on it), and whatever a
    view adds (`viewer`, the organisation whose view it is)."""


def rendered(name: str) -> Any:
    """A value of the current rendering (inside `Rendering` or an `@output` view)."""
    return Rendering.get()[name]


def dump(schema: Schema, value: Any, *, now: datetime, **context: Any) -> Any:
    """Dump `value` with `schema` as of `now` (for what services store or assemble)."""
    with Rendering({"now": now, **context}):
        return schema.dump(value)


def output(
    schema: type[Schema],
    *,
    status: int = 200,
    context: Callable[[], Mapping[str, Any]] | None = None,
) -> Callable:
    """Render what the view returns with `schema`, as JSON with `status`.

    The view returns a value (a model, a typed value, a page), optionally followed by a
    status and headers: `(value, headers)`, `(value, 200)`. The schema names every field, so
    nothing else leaks. It dumps as of the moment of the answer
    (`rendered("now")`), plus what `context()` adds.
    """

    def decorator(view: Callable) -> Callable:
        dumper = schema()  # schemas keep no per-call state: build one, reuse

        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Response:
            returned = view(*args, **kwargs)
            # A plain tuple adds a status and/or headers; a NamedTuple is a value like any other.
            value, *more = returned if type(returned) is tuple else (returned,)
            extra = context() if context else {}
            response = current_app.json.response(dump(dumper, value, now=utcnow(), **extra))
            response.status_code = next((m for m in more if isinstance(m, int)), status)
            response.headers.update(next((m for m in more if isinstance(m, Mapping)), {}))
            return response

        return wrapper

    return decorator


def init_app(app: Flask) -> None:
    """Give every request an id, echoed in the response and stamped on its log lines."""

    @app.before_request
    def _request_id() -> None:
        incoming = request.headers.get("X-Request-Id", "")
        g.request_id = incoming if _REQUEST_ID.match(incoming) else secrets.token_hex(8)

    @app.after_request
    def _echo_request_id(response: Response) -> Response:
        if g.get("request_id"):
            response.headers["X-Request-Id"] = g.request_id
        if response.status_code == 204:  # no content: no type either (Flask says text/html)
            response.headers.pop("Content-Type", None)
            response.data = b""
            response.headers.pop("Content-Length", None)
        response.headers.setdefault("Cache-Control", "no-store")
        return response
