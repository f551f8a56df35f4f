"""Rate limiting (Flask-Limiter) for the endpoints that guess-and-check attacks aim at."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, Response, current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

limiter = Limiter(key_func=get_remote_address, default_limits=[])


def configured(name: str) -> Callable[[], str]:
    """Return a limit read from the app's config at request time, e.g. RATELIMIT_SIGNUP."""
    return lambda: current_app.config[name]


RETRY_STATUSES = (429, 503)


def _retry_after_only_when_refused(response: Response) -> Response:
    """Flask-Limiter adds Retry-After to every answer of a limited route; it means "wait before
    retrying" (RFC 9110 10.2.3), so only a refusal to retry keeps it."""
    if response.status_code not in RETRY_STATUSES:
        response.headers.pop("Retry-After", None)
    return response


def init_app(app: Flask) -> None:
    """Bind the limiter; RATELIMIT_STORAGE_URI chooses memory:// or a shared store (redis://)."""
    # Registered first, so it runs after the limiter's own after_request (Flask runs them in
    # reverse order of registration) and sees the headers it added.
    app.after_request(_retry_after_only_when_refused)
    limiter.init_app(app)
