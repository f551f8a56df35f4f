"""The OAuth 2.0 authorization server and resource protector, and the scope guard on routes."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.flask_oauth2.requests import FlaskJsonRequest
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import ResourceProtector, TokenMixin
from authlib.oauth2.rfc6750 import BearerTokenGenerator, BearerTokenValidator, InvalidTokenError
from flask import Flask, current_app, g, request
from sqlalchemy import bindparam, select

from consent_api import scopes
from consent_api.auth.models import OAuthClient, OAuthToken, digest
from consent_api.decisions.decide import Org
from consent_api.orgs.models import Organisation
from consent_api.patients.models import Patient
from server.db import db, reads, utcnow
from server.errors import Problem

REALM = "consent-wallet"

authorization = AuthorizationServer()
protector = ResourceProtector()


def issuer() -> str:
    """Return this server's issuer identifier (RFC 8414): configured, else the request's root."""
    return current_app.config["ISSUER"].rstrip("/") or request.url_root.rstrip("/")


def query_client(client_id: str) -> OAuthClient | None:
    """Find a client; a suspended organisation's clients do not exist for OAuth purposes."""
    client = db.session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))
    if client is None or (client.org is not None and not client.org.is_active):
        return None
    return client


def save_token(token: dict[str, Any], oauth_request) -> None:
    """Store a newly issued token as hashes; a refreshed token stays in its grant's family."""
    now = utcnow()
    config = current_app.config
    client: OAuthClient = oauth_request.client
    user: Patient | None = oauth_request.user
    previous = getattr(oauth_request, "refresh_token", None)
    refresh = token.get("refresh_token")
    db.session.add(
        OAuthToken(
            client_pk=client.id,
            patient_id=user.id if user else None,
            org_id=client.org_id,
            family_id=previous.family_id if previous is not None else uuid.uuid4(),
            access_token_hash=digest(token["access_token"]),
            refresh_token_hash=digest(refresh) if refresh else None,
            scope=token.get("scope", ""),
            issued_at=now,
            expires_at=now + timedelta(seconds=token["expires_in"]),
            refresh_expires_at=now + timedelta(seconds=config["REFRESH_TOKEN_TTL"])
            if refresh
            else None,
        )
    )
    db.session.flush()


@dataclass(frozen=True)
class TokenInfo(TokenMixin):
    """What a bearer check needs of a token and its holder, read in one query."""

    id: uuid.UUID
    scope: str
    expires_at: datetime
    revoked: bool
    patient_id: uuid.UUID | None
    org_id: uuid.UUID | None
    org_type: str | None
    org_active: bool
    org_name: str | None = None

    def check_client(self, client) -> bool:
        return False  # bearer-only view; revocation uses the stored token

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return max(0, int((self.expires_at - utcnow()).total_seconds()))

    def is_expired(self) -> bool:
        return utcnow() >= self.expires_at

    def is_revoked(self) -> bool:
        return self.revoked


_tokens = OAuthToken.__table__
_orgs = Organisation.__table__
_TOKEN_QUERY = (
    select(
        _tokens.c.id,
        _tokens.c.scope,
        _tokens.c.expires_at,
        _tokens.c.revoked_at,
        _tokens.c.patient_id,
        _tokens.c.org_id,
        _orgs.c.type,
        _orgs.c.status,
        _orgs.c.name,
    )
    .select_from(_tokens.outerjoin(_orgs, _tokens.c.org_id == _orgs.c.id))
    .where(_tokens.c.access_token_hash == bindparam("token_hash"))
)


class BearerValidator(BearerTokenValidator):
    """Resolve opaque bearer tokens by their hash, in one indexed query on the request's
    autocommit read connection; a suspended organisation's tokens fail."""

    def authenticate_token(self, token_string: str) -> TokenInfo | None:
        row = reads.execute(_TOKEN_QUERY, {"token_hash": digest(token_string)}).first()
        if row is None:
            return None
        return TokenInfo(
            id=row.id,
            scope=row.scope,
            expires_at=row.expires_at,
            revoked=row.revoked_at is not None,
            patient_id=row.patient_id,
            org_id=row.org_id,
            org_type=row.type,
            org_active=row.status == "active",
            org_name=row.name,
        )

    def validate_token(self, token, scopes_required, request_) -> None:
        if token is not None and token.org_id is not None and not token.org_active:
            raise InvalidTokenError(realm=self.realm)
        super().validate_token(token, scopes_required, request_)


def _challenge(error: str | None = None, scope: tuple[str, ...] = ()) -> str:
    parts = [f'realm="{REALM}"']
    if error:
        parts.append(f'error="{error}"')
    if scope:
        parts.append(f'scope="{" ".join(scope)}"')
    return "Bearer " + ", ".join(parts)


def _auth_problem(error: OAuth2Error, required: tuple[str, ...]) -> Problem:
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
                g.token = protector.validate_request(list(any_of), FlaskJsonRequest(request))
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


def current_patient() -> Patient:
    """Return the patient the current token was issued for."""
    patient = db.session.get(Patient, g.token.patient_id) if g.token.patient_id else None
    if patient is None or patient.erased_at is not None:
        raise Problem("This token does not act for a patient.", status=403, code="forbidden")
    return patient


def current_patient_id() -> uuid.UUID:
    """The patient id the current token acts for (for keys scoped to the caller)."""
    return current_patient().id


def current_org() -> Organisation:
    """Return the organisation the current token was issued to."""
    org = db.session.get(Organisation, g.token.org_id) if g.token.org_id else None
    if org is None:
        raise Problem("This token does not act for an organisation.", status=403, code="forbidden")
    return org


def current_org_ref() -> Org:
    """Return who the calling organisation is, without loading it (for the hot paths)."""
    token = g.token
    if token.org_id is None:
        raise Problem("This token does not act for an organisation.", status=403, code="forbidden")
    return Org(
        id=token.org_id, type=token.org_type, active=token.org_active, name=token.org_name or ""
    )


def check_routes_declare_scopes(app: Flask) -> None:
    """Default deny: refuse to start if any route forgot to declare its scope or `public`."""
    missing = [
        endpoint
        for endpoint, view in app.view_functions.items()
        if not hasattr(view, "oauth_scopes")
    ]
    if missing:
        raise RuntimeError(f"routes without a declared OAuth scope: {sorted(missing)}")


def config_oauth(app: Flask) -> None:
    """Wire the authorization server, its grants and endpoints, and the bearer validator."""
    from consent_api.auth import grants  # grants need the server defined above

    app.config.setdefault("OAUTH2_SCOPES_SUPPORTED", list(scopes.ALL))
    authorization.init_app(app, query_client=query_client, save_token=save_token)
    authorization.register_token_generator(
        "default",
        BearerTokenGenerator(
            access_token_generator=lambda **_: grants.new_secret(),
            refresh_token_generator=lambda **_: grants.new_secret(),
            expires_generator=lambda client, grant_type: current_app.config["ACCESS_TOKEN_TTL"],
        ),
    )
    if not getattr(authorization, "_cw_grants_registered", False):
        grants.register(authorization)
        authorization._cw_grants_registered = True
    if not protector._token_validators:
        protector.register_token_validator(BearerValidator(realm=REALM))
