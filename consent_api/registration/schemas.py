"""Input and output shapes of registrations."""

from marshmallow import Schema, ValidationError, fields, validate

from consent_api.auth import redirects
from consent_api.orgs.schemas import ProfileIn
from consent_api.orgs.types import ORG_TYPES
from server import scopes
from server.scopes import parse as parse_scopes


class OrgIn(ProfileIn):
    """Register an organisation (operator only), with its public profile if given."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    type = fields.String(required=True, validate=validate.OneOf(ORG_TYPES))
    scopes = fields.List(
        fields.String(validate=validate.OneOf(scopes.ALL)),
        validate=validate.Length(min=1),
        load_default=None,
    )
    jwks = fields.Dict(load_default=None)


class OrgCreatedOut(Schema):
    """A new organisation with its client credentials; the secret is shown only here."""

    id = fields.UUID(attribute="org.id")
    name = fields.String(attribute="org.name")
    type = fields.String(attribute="org.type")
    status = fields.String(attribute="org.status")
    created_at = fields.DateTime(attribute="org.created_at")
    suspended_at = fields.DateTime(attribute="org.suspended_at", allow_none=True)
    client_id = fields.String(attribute="client.client_id")
    client_secret = fields.String(allow_none=True)
    scopes = fields.Function(lambda registration: parse_scopes(registration.client.scope))
    description = fields.String(attribute="org.description", allow_none=True)
    website = fields.String(attribute="org.website", allow_none=True)
    logo_url = fields.String(attribute="org.logo_url", allow_none=True)


def native_redirect_uri(value: str) -> None:
    """Accept the redirect URIs RFC 8252 allows native apps (consent_api/auth/redirects.py)."""
    refused = redirects.problem(value)
    if refused is not None:
        raise ValidationError(refused)


class AppIn(Schema):
    """Register a public (patient) app."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    redirect_uris = fields.List(
        fields.String(validate=[validate.Length(max=500), native_redirect_uri]),
        required=True,
        validate=validate.Length(min=1, max=10),
    )


class AppOut(Schema):
    """A registered public app."""

    client_id = fields.String()
    name = fields.String()
    redirect_uris = fields.List(fields.String())
    scope = fields.String()
