"""OAuth clients (an organisation's, the patient app) and token housekeeping. Services flush;
they never commit."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, or_, select

from consent_api.auth.grants import new_secret
from consent_api.auth.models import (
    AuthorizationCode,
    OAuthClient,
    OAuthToken,
    UsedAssertion,
    digest,
)
from consent_api.orgs.models import Organisation
from server import scopes
from server.db import db

# How long spent tokens are kept after they stop working, so that a replay is still recognised.
TOKEN_RETENTION = timedelta(days=7)


def new_client_id(prefix: str) -> str:
    """Return a fresh, public, unguessable client identifier."""
    return f"{prefix}_{new_secret()[:22]}"


def create_org_client(
    org: Organisation, *, scope: str, jwks: dict[str, Any] | None = None
) -> tuple[OAuthClient, str | None]:
    """Register a confidential client for an organisation; return it and its secret (shown once).

    With `jwks` the client authenticates with private_key_jwt and gets no secret.
    """
    secret = None if jwks else new_secret()
    client = OAuthClient(
        client_id=new_client_id("org"),
        secret_hash=digest(secret) if secret else None,
        name=org.name,
        org_id=org.id,
        auth_method="private_key_jwt" if jwks else "client_secret_basic",
        grant_types=["client_credentials"],
        redirect_uris=[],
        scope=scope,
        jwks=jwks,
    )
    db.session.add(client)
    db.session.flush()
    return client, secret


def create_app_client(*, name: str, redirect_uris: list[str]) -> OAuthClient:
    """Register a public client (the patient app): authorization code + PKCE, refresh tokens."""
    client = OAuthClient(
        client_id=new_client_id("app"),
        secret_hash=None,
        name=name,
        org_id=None,
        auth_method="none",
        grant_types=["authorization_code", "refresh_token"],
        redirect_uris=list(redirect_uris),
        scope=scopes.PATIENT,
    )
    db.session.add(client)
    db.session.flush()
    return client


def org_client_ids() -> dict[uuid.UUID, list[str]]:
    """Each organisation's client ids, oldest first (the operator's listing)."""
    found: dict[uuid.UUID, list[str]] = {}
    for org_id, client_id in db.session.execute(
        select(OAuthClient.org_id, OAuthClient.client_id)
        .where(OAuthClient.org_id.is_not(None))
        .order_by(OAuthClient.created_at)
    ):
        found.setdefault(org_id, []).append(client_id)
    return found


def app_clients() -> list[OAuthClient]:
    """The public (patient) apps, oldest first."""
    return list(
        db.session.scalars(
            select(OAuthClient)
            .where(OAuthClient.org_id.is_(None))
            .order_by(OAuthClient.created_at, OAuthClient.id)
        )
    )


def purge_expired(*, now: datetime) -> dict[str, int]:
    """Delete expired codes (redeemed ones after TOKEN_RETENTION), spent assertion ids and
    long-dead tokens; safe to run concurrently."""
    cutoff = now - TOKEN_RETENTION
    dead_token = and_(
        OAuthToken.expires_at < cutoff,
        or_(
            OAuthToken.refresh_token_hash.is_(None),
            OAuthToken.refresh_expires_at < cutoff,
            OAuthToken.refresh_revoked_at < cutoff,
        ),
    )
    counts = {}
    for name, statement in (
        (
            "authorization_codes",
            # A redeemed code stays as long as a spent token, so that its replay is known.
            delete(AuthorizationCode).where(
                or_(
                    and_(AuthorizationCode.used_at.is_(None), AuthorizationCode.expires_at < now),
                    AuthorizationCode.expires_at < cutoff,
                )
            ),
        ),
        ("assertions", delete(UsedAssertion).where(UsedAssertion.expires_at < now)),
        ("tokens", delete(OAuthToken).where(dead_token)),
    ):
        counts[name] = db.session.execute(
            statement.execution_options(synchronize_session=False)
        ).rowcount
    return counts
