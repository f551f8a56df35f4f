"""Rate limiting (Flask-Limiter) for the endpoints that guess-and-check attacks aim at."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

limiter = Limiter(key_func=get_remote_address, default_limits=[])


def configured(name: str) -> Callable[[], str]:
    """Return a limit read from the app's config at request time, e.g. RATELIMIT_SIGNUP."""
    return lambda: current_app.config[name]


def init_app(app: Flask) -> None:
    """Bind the limiter; RATELIMIT_STORAGE_URI chooses memory:// or a shared store (redis://)."""
    limiter.init_app(app)
