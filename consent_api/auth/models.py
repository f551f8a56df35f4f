"""OAuth 2.0 storage: clients, tokens and authorization codes, all secrets kept as hashes."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import datetime, timedelta
from typing import Any

from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, ClientMixin, TokenMixin
from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from consent_api.auth import redirects
from consent_api.orgs.models import Organisation
from consent_api.patients.models import Patient
from server import scopes
from server.db import db, utcnow, uuid_pk


def digest(secret: str) -> str:
    """Hash a high-entropy secret (token, client secret, code) for storage and lookup.

    These are random 256-bit values, so a fast hash is safe; passwords use argon2 instead.
    """
    return hashlib.sha256(secret.encode()).hexdigest()


CLIENT_ID_LENGTH = 64


def possible_client_id(value: object) -> bool:
    """Whether `value` could be some client's id: a string of printable characters that fits
    the column. Anything else finds no client without being sent to the database (PostgreSQL
    text cannot even hold a NUL)."""
    return isinstance(value, str) and 0 < len(value) <= CLIENT_ID_LENGTH and value.isprintable()


class OAuthClient(db.Model, ClientMixin):
    """A registered OAuth client: the patient app (public) or an organisation (confidential)."""

    __tablename__ = "oauth_clients"

    id: Mapped[uuid.UUID] = uuid_pk()
    client_id: Mapped[str] = mapped_column(String(CLIENT_ID_LENGTH), unique=True)
    secret_hash: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    org_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    auth_method: Mapped[str] = mapped_column(String(40))
    grant_types: Mapped[list[str]] = mapped_column(JSON)
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    scope: Mapped[str] = mapped_column(Text)
    jwks: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    org: Mapped[Organisation | None] = relationship(lazy="joined")

    # authlib's ClientMixin contract
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """Return the scope to grant, as asked (a SMART alias stays as asked: `save_token`
        stores ours), or None (→ invalid_scope) if any part is not allowed."""
        allowed = scopes.parse(self.scope)
        if not scope:
            return " ".join(allowed)
        if not set(scopes.canonical(scope)) <= set(allowed):
            return None
        return " ".join(scopes.parse(scope))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # Exact match, no prefixes or patterns; only a loopback URI's port may differ.
        return redirects.matches(self.redirect_uris, redirect_uri)

    def check_client_secret(self, client_secret: str) -> bool:
        if not self.secret_hash:
            return False
        return hmac.compare_digest(self.secret_hash, digest(client_secret))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if endpoint == "token":
            return method == self.auth_method
        # Revocation: the public app revokes its own tokens without a secret.
        return method == self.auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


class OAuthToken(db.Model, TokenMixin):
    """An issued access token, with its refresh token if any; only hashes are kept."""

    __tablename__ = "oauth_tokens"

    id: Mapped[uuid.UUID] = uuid_pk()
    client_pk: Mapped[uuid.UUID] = mapped_column(ForeignKey("oauth_clients.id"), index=True)
    patient_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    org_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    family_id: Mapped[uuid.UUID] = mapped_column(index=True)
    access_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    refresh_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    scope: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    refresh_expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    refresh_revoked_at: Mapped[datetime | None]

    client: Mapped[OAuthClient] = relationship(lazy="joined")
    org: Mapped[Organisation | None] = relationship(lazy="joined")
    patient: Mapped[Patient | None] = relationship()

    # authlib's TokenMixin contract
    def check_client(self, client: OAuthClient) -> bool:
        return self.client_pk == client.id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return max(0, int((self.expires_at - self.issued_at).total_seconds()))

    def is_expired(self) -> bool:
        return utcnow() >= self.expires_at

    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def get_user(self) -> Patient | None:
        return self.patient

    def get_client(self) -> OAuthClient:
        return self.client

    def refresh_usable(self) -> bool:
        """Whether the refresh token may still be exchanged (not used, revoked or expired)."""
        return (
            self.refresh_token_hash is not None
            and self.refresh_revoked_at is None
            and self.refresh_expires_at is not None
            and utcnow() < self.refresh_expires_at
        )


class AuthorizationCode(db.Model, AuthorizationCodeMixin):
    """A one-time authorization code bound to its client, redirect URI and PKCE challenge;
    stored hashed."""

    __tablename__ = "oauth_authorization_codes"

    id: Mapped[uuid.UUID] = uuid_pk()
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_pk: Mapped[uuid.UUID] = mapped_column(ForeignKey("oauth_clients.id"), index=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text)
    code_challenge: Mapped[str] = mapped_column(String(128))
    code_challenge_method: Mapped[str] = mapped_column(String(10))
    expires_at: Mapped[datetime] = mapped_column(index=True)
    # Set once, by the one exchange that redeems the code; the row is kept so that a replay
    # is recognised. The tokens issued from a code form the family whose id is the code's.
    used_at: Mapped[datetime | None]

    patient: Mapped[Patient] = relationship()

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def is_expired(self) -> bool:
        return utcnow() >= self.expires_at


class UsedAssertion(db.Model):
    """A private_key_jwt assertion id already seen, kept until it expires (replay guard)."""

    __tablename__ = "oauth_used_assertions"

    jti_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)


def expiry(seconds: int) -> datetime:
    """Return the moment `seconds` from now."""
    return utcnow() + timedelta(seconds=seconds)
