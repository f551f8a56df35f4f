"""Input and output shapes of organisations and registered apps."""

from urllib.parse import urlsplit

from marshmallow import Schema, ValidationError, fields, validate

from consent_api import scopes


class OrgIn(Schema):
    """Register an organisation (operator only)."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    type = fields.String(required=True, validate=validate.OneOf(scopes.ORG_TYPES))
    scopes = fields.List(
        fields.String(validate=validate.OneOf(scopes.ALL)),
        validate=validate.Length(min=1),
        load_default=None,
    )
    jwks = fields.Dict(load_default=None)


class OrgOut(Schema):
    """An organisation as the operator and the organisation itself see it."""

    id = fields.UUID()
    name = fields.String()
    type = fields.String()
    status = fields.String()
    created_at = fields.DateTime()
    suspended_at = fields.DateTime(allow_none=True)


class OrgCreatedOut(OrgOut):
    """A new organisation with its client credentials; the secret is shown only here."""

    client_id = fields.String()
    client_secret = fields.String(allow_none=True)
    scopes = fields.List(fields.String())


def native_redirect_uri(value: str) -> None:
    """Accept the redirect URIs RFC 8252 allows native apps: https, loopback http, or a
    private-use scheme in reverse-domain form (com.example.app:/callback); never fragments."""
    parts = urlsplit(value)
    if parts.fragment or not parts.scheme:
        raise ValidationError("Must be an absolute URI without a fragment.")
    if parts.scheme == "https" and parts.netloc:
        return
    if parts.scheme == "http" and parts.hostname in {"127.0.0.1", "::1", "localhost"}:
        return
    if "." in parts.scheme and parts.scheme not in {"http", "https"}:
        return
    raise ValidationError("Use https, http on a loopback address, or a reverse-domain scheme.")


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
