"""Default deny: every route declares the OAuth scopes it needs, or that it is public.

`require` checks the bearer token with authlib's ResourceProtector, through the validator the
auth package registers at start-up, and keeps what it learned as the request's `Bearer`. An
app in which a route declared nothing does not start (`check_routes_declare_scopes`). Who the
bearer is (a patient, an organisation) is the domain's business: this module only says whom
the token acts for.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from authlib.integrations.flask_oauth2.requests import FlaskJsonRequest
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import ResourceProtector, TokenMixin
from flask import Flask, g, request

from server import scopes
from server.db import utcnow
from server.errors import Problem

REALM = "consent-wallet"

protector = ResourceProtector()


@dataclass(frozen=True)
class Bearer(TokenMixin):
    """What a bearer check knows of a token and its holder (read in one query)."""

    id: uuid.UUID
    scope: str
    expires_at: datetime
    revoked: bool
    patient_id: uuid.UUID | None
    org_id: uuid.UUID | None
    org_type: str | None
    org_active: bool
    org_name: str | None = None
    # A suspended organisation's blacklist entry, told to it when its token is refused.
    org_suspended_at: datetime | None = None
    org_suspension_reason: str | None = None

    def check_client(self, client) -> bool:
        return False  # a bearer-only view; revocation works on the stored token

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return max(0, int((self.expires_at - utcnow()).total_seconds()))

    def is_expired(self) -> bool:
        return utcnow() >= self.expires_at

    def is_revoked(self) -> bool:
        return self.revoked


def _challenge(error: str | None = None, scope: tuple[str, ...] = ()) -> str:
    parts = [f'realm="{REALM}"']
    if error:
        parts.append(f'error="{error}"')
    if scope:
        parts.append(f'scope="{" ".join(scope)}"')
    return "Bearer " + ", ".join(parts)


class OrgSuspended(OAuth2Error):
    """The token is sound but its organisation is suspended: refused, saying since when and
    why (the organisation's own view of the blacklist)."""

    error = "org_suspended"

    def __init__(self, token: Bearer) -> None:
        super().__init__()
        self.token = token


def _auth_problem(error: OAuth2Error, required: tuple[str, ...]) -> Problem:
    if isinstance(error, OrgSuspended):
        token = error.token
        reason = token.org_suspension_reason
        told: dict[str, Any] = {"reason": reason} if reason else {}
        if token.org_suspended_at is not None:
            told["suspended_at"] = token.org_suspended_at.isoformat()
        return Problem(
            "This organisation is suspended" + (f": {reason}" if reason else "."),
            status=403,
            code="org_suspended",
            **told,
        )
    if error.error == "insufficient_scope":
        return Problem(
            f"This route needs one of the scopes: {', '.join(required)}.",
            status=403,
            code="insufficient_scope",
            headers={"WWW-Authenticate": _challenge("insufficient_scope", required)},
        )
    if request.headers.get("Authorization"):
        return Problem(
            "The access token is invalid, expired or revoked.",
            status=401,
            code="invalid_token",
            headers={"WWW-Authenticate": _challenge("invalid_token")},
        )
    return Problem(
        "Send an OAuth 2.0 bearer token.",
        status=401,
        code="unauthorized",
        headers={"WWW-Authenticate": _challenge()},
    )


def require(*any_of: str) -> Callable:
    """Let the view run only for a valid bearer token holding one of these scopes."""
    unknown = set(any_of) - set(scopes.ALL)
    if not any_of or unknown:
        raise ValueError(f"declare known scopes, got {any_of!r}")

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                g.bearer = protector.validate_request(list(any_of), FlaskJsonRequest(request))
            except OAuth2Error as error:
                raise _auth_problem(error, any_of) from None
            return view(*args, **kwargs)

        wrapper.oauth_scopes = any_of
        return wrapper

    return decorator


def public(view: Callable) -> Callable:
    """Declare that a view needs no bearer token (health, discovery, the OAuth endpoints)."""
    view.oauth_scopes = ()
    return view


def bearer() -> Bearer:
    """The token the current request was authorised with (inside a `require`d view)."""
    return g.bearer


def acting_patient_id() -> uuid.UUID:
    """The patient the current token acts for; 403 when it acts for none."""
    patient_id = bearer().patient_id
    if patient_id is None:
        raise Problem("This token does not act for a patient.", status=403, code="forbidden")
    return patient_id


def acting_org_id() -> uuid.UUID:
    """The organisation the current token was issued to; 403 when it has none."""
    org_id = bearer().org_id
    if org_id is None:
        raise Problem("This token does not act for an organisation.", status=403, code="forbidden")
    return org_id


def check_routes_declare_scopes(app: Flask) -> None:
    """Default deny: refuse to start if any route forgot to declare its scope or `public`."""
    missing = [
        endpoint
        for endpoint, view in app.view_functions.items()
        if not hasattr(view, "oauth_scopes")
    ]
    if missing:
        raise RuntimeError(f"routes without a declared OAuth scope: {sorted(missing)}")
