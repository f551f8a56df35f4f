"""Organisation lifecycle: registration, suspension, resumption. Services flush, never commit."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from consent_api import scopes as scope_names
from consent_api.auth import service as clients
from consent_api.auth.models import OAuthClient
from consent_api.orgs.models import Organisation
from server.db import db, utcnow
from server.errors import NotFound, ValidationFailed


@dataclass(frozen=True)
class Registration:
    """A new organisation with its client; `client_secret` exists only in this object."""

    org: Organisation
    client: OAuthClient
    client_secret: str | None

    def as_dict(self) -> dict[str, Any]:
        """Return the flat shape the CLI and the admin API print."""
        return {
            "id": self.org.id,
            "name": self.org.name,
            "type": self.org.type,
            "status": self.org.status,
            "created_at": self.org.created_at,
            "suspended_at": self.org.suspended_at,
            "client_id": self.client.client_id,
            "client_secret": self.client_secret,
            "scopes": scope_names.parse(self.client.scope),
        }


def register(
    *,
    name: str,
    type: str,
    scopes: list[str] | None = None,
    jwks: dict[str, Any] | None = None,
) -> Registration:
    """Create an organisation and its confidential client, narrowed to `scopes` if given."""
    if type not in scope_names.BY_ORG_TYPE:
        known = ", ".join(scope_names.ORG_TYPES)
        raise ValidationFailed(errors={"type": [f"Must be one of {known}."]})
    allowed = scope_names.BY_ORG_TYPE[type]
    wanted = list(scopes) if scopes else list(allowed)
    if not set(wanted) <= set(allowed):
        raise ValidationFailed(
            errors={"scopes": [f"A {type} may hold only: {' '.join(allowed)}."]},
        )
    if jwks is not None and not isinstance(jwks.get("keys"), list):
        raise ValidationFailed(errors={"jwks": ["A JWK Set needs a 'keys' list."]})
    org = Organisation(name=name, type=type, status="active")
    db.session.add(org)
    db.session.flush()
    client, secret = clients.create_org_client(org, scope=" ".join(wanted), jwks=jwks)
    return Registration(org, client, secret)


def get(org_id: uuid.UUID) -> Organisation:
    """Return an organisation or raise 404."""
    org = db.session.get(Organisation, org_id)
    if org is None:
        raise NotFound("No organisation with this id.")
    return org


def list_all() -> list[Organisation]:
    """Return every organisation, oldest first."""
    return list(db.session.scalars(select(Organisation).order_by(Organisation.created_at)))


def suspend(org_id: uuid.UUID) -> Organisation:
    """Blacklist an organisation: its tokens stop working on the next request."""
    org = get(org_id)
    if org.is_active:
        org.status, org.suspended_at = "suspended", utcnow()
        db.session.flush()
    return org


def resume(org_id: uuid.UUID) -> Organisation:
    """Lift a suspension."""
    org = get(org_id)
    if not org.is_active:
        org.status, org.suspended_at = "active", None
        db.session.flush()
    return org
