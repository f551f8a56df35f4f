"""Register an organisation with its confidential client, or a public patient app.
Services flush, never commit."""

from __future__ import annotations

import uuid
from typing import Any, NamedTuple

from consent_api.auth import clients, keys
from consent_api.auth.models import OAuthClient
from consent_api.orgs import service as orgs
from consent_api.orgs.models import Organisation
from consent_api.orgs.types import BY_ORG_TYPE, ORG_TYPES
from server.errors import ValidationFailed


class Registration(NamedTuple):
    """A new organisation with its client; `client_secret` exists only in this value."""

    org: Organisation
    client: OAuthClient
    client_secret: str | None


def register_org(
    *,
    name: str,
    type: str,
    scopes: list[str] | None = None,
    jwks: dict[str, Any] | None = None,
    by: uuid.UUID | None = None,
    **profile: str | None,
) -> Registration:
    """Create an organisation and its confidential client, narrowed to `scopes` if given,
    with its public profile (description, website, logo_url) if given; `by` is the operator
    organisation registering it (None: the CLI)."""
    if type not in BY_ORG_TYPE:
        raise ValidationFailed(errors={"type": [f"Must be one of {', '.join(ORG_TYPES)}."]})
    allowed = BY_ORG_TYPE[type]
    wanted = list(scopes) if scopes else list(allowed)
    if not set(wanted) <= set(allowed):
        raise ValidationFailed(
            errors={"scopes": [f"A {type} may hold only: {' '.join(allowed)}."]},
        )
    if jwks is not None:
        try:
            keys.public_key_set(jwks)
        except keys.UnusableKeys as error:
            raise ValidationFailed(errors={"jwks": [str(error)]}) from error
    org = orgs.add(name=name, type=type, profile=profile, by=by)
    client, secret = clients.create_org_client(org, scope=" ".join(wanted), jwks=jwks)
    return Registration(org, client, secret)


def register_app(*, name: str, redirect_uris: list[str]) -> OAuthClient:
    """Register a public client (the patient app): authorization code + PKCE."""
    return clients.create_app_client(name=name, redirect_uris=redirect_uris)
