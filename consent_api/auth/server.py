"""Our OAuth 2.0 authorization server (authlib) and the bearer validator every route's guard
uses: opaque tokens, looked up by their hash."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6750 import BearerTokenGenerator, BearerTokenValidator, InvalidTokenError
from flask import Flask, current_app
from sqlalchemy import bindparam, select

from consent_api.auth import authentication, grants
from consent_api.auth.models import OAuthClient, OAuthToken, digest, possible_client_id
from consent_api.orgs.models import Organisation
from consent_api.patients.models import Patient
from server import scopes
from server.db import db, reads, utcnow
from server.guard import REALM, Bearer, OrgSuspended, protector


class WalletAuthorizationServer(AuthorizationServer):
    """authlib's authorization server, where a request authenticates its client one way at
    most, at every endpoint that authenticates clients (token, revocation)."""

    def authenticate_client(self, request, methods, endpoint="token"):
        authentication.one_method_at_most(request)
        return super().authenticate_client(request, methods, endpoint)


authorization = WalletAuthorizationServer()


def query_client(client_id: str) -> OAuthClient | None:
    """Find a client; a suspended organisation's clients do not exist for OAuth purposes, nor
    does any client for an id none could have (whatever a request's credentials named)."""
    if not possible_client_id(client_id):
        return None
    client = db.session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))
    if client is None or (client.org is not None and not client.org.is_active):
        return None
    return client


def save_token(token: dict[str, Any], oauth_request) -> None:
    """Store a newly issued token as hashes, in its family: a refreshed token in its
    predecessor's, a token from an authorization code in the family named by the code's id
    (so that a replayed code finds what it gave), any other in a new one."""
    now = utcnow()
    config = current_app.config
    client: OAuthClient = oauth_request.client
    user: Patient | None = oauth_request.user
    previous = getattr(oauth_request, "refresh_token", None)
    code = getattr(oauth_request, "authorization_code", None)
    if previous is not None:
        family_id = previous.family_id
    else:
        family_id = code.id if code is not None else uuid.uuid4()
    refresh = token.get("refresh_token")
    db.session.add(
        OAuthToken(
            client_pk=client.id,
            patient_id=user.id if user else None,
            org_id=client.org_id,
            family_id=family_id,
            access_token_hash=digest(token["access_token"]),
            refresh_token_hash=digest(refresh) if refresh else None,
            scope=" ".join(scopes.canonical(token.get("scope"))),  # SMART aliases as ours
            issued_at=now,
            expires_at=now + timedelta(seconds=token["expires_in"]),
            refresh_expires_at=now + timedelta(seconds=config["REFRESH_TOKEN_TTL"])
            if refresh
            else None,
        )
    )
    db.session.flush()


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
        _orgs.c.suspended_at,
        _orgs.c.suspension_reason,
    )
    .select_from(_tokens.outerjoin(_orgs, _tokens.c.org_id == _orgs.c.id))
    .where(_tokens.c.access_token_hash == bindparam("token_hash"))
)


class BearerValidator(BearerTokenValidator):
    """Resolve opaque bearer tokens by their hash, in one indexed query on the request's
    autocommit read connection; a suspended organisation's tokens fail."""

    def authenticate_token(self, token_string: str) -> Bearer | None:
        row = reads.execute(_TOKEN_QUERY, {"token_hash": digest(token_string)}).first()
        if row is None:
            return None
        return Bearer(
            id=row.id,
            scope=row.scope,
            expires_at=row.expires_at,
            revoked=row.revoked_at is not None,
            patient_id=row.patient_id,
            org_id=row.org_id,
            org_type=row.type,
            org_active=row.status == "active",
            org_name=row.name,
            org_suspended_at=row.suspended_at,
            org_suspension_reason=row.suspension_reason,
        )

    def validate_token(self, token, scopes_required, request_) -> None:
        if token is not None and token.org_id is not None and not token.org_active:
            if token.is_expired() or token.is_revoked():
                raise InvalidTokenError(realm=self.realm)
            raise OrgSuspended(token)
        super().validate_token(token, scopes_required, request_)


def init_app(app: Flask) -> None:
    """Wire the authorization server, its grants and endpoints, and the bearer validator."""
    app.config.setdefault("OAUTH2_SCOPES_SUPPORTED", [*scopes.ALL, *scopes.ALIASES])
    authorization.init_app(app, query_client=query_client, save_token=save_token)
    authorization.register_token_generator(
        "default",
        BearerTokenGenerator(
            access_token_generator=lambda **_: grants.new_secret(),
            refresh_token_generator=lambda **_: grants.new_secret(),
            expires_generator=lambda client, grant_type: current_app.config["ACCESS_TOKEN_TTL"],
        ),
    )
    # The server and the protector live as long as the process; several apps (tests) share them.
    if not getattr(authorization, "_cw_grants_registered", False):
        grants.register(authorization)
        authorization._cw_grants_registered = True
    if not protector._token_validators:
        protector.register_token_validator(BearerValidator(realm=REALM))
