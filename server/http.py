"""Request plumbing shared by every route: request ids and schema-driven parsing."""

from __future__ import annotations

import functools
import logging
import re
import secrets
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, g, request
from marshmallow import Schema, ValidationError
from werkzeug.exceptions import BadRequest

from server.errors import Problem, ValidationFailed

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestIdFilter(logging.Filter):
    """Stamp each log record with the current request id, if any."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            record.request_id = g.get("request_id", "-")
        except RuntimeError:  # outside a request or app context
            record.request_id = "-"
        return True


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
        raise Problem("The body is not valid JSON.", code="malformed_json") from exc
    if not isinstance(data, dict):
        raise ValidationFailed(
            "The body must be a JSON object.", errors={"_schema": ["Expected a JSON object."]}
        )
    return data


def load(schema: Schema, data: Any) -> Any:
    """Validate data with a schema, turning marshmallow's errors into a 422 problem."""
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise ValidationFailed(errors=_messages(exc)) from exc


def _messages(exc: ValidationError) -> dict[str, Any]:
    messages = exc.messages
    return messages if isinstance(messages, dict) else {"_schema": messages}


def body(schema: type[Schema]) -> Callable:
    """Parse and validate the JSON body with `schema`; the view receives it as `body=`."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return view(*args, body=load(schema(), json_body()), **kwargs)

        return wrapper

    return decorator


def query(schema: type[Schema]) -> Callable:
    """Parse and validate the query string with `schema`; the view receives it as `query=`."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return view(*args, query=load(schema(), request.args.to_dict()), **kwargs)

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
        response.headers.setdefault("Cache-Control", "no-store")
        return response
