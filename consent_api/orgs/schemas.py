"""Input and output shapes of organisations."""

import ipaddress
import re
from urllib.parse import urlsplit

from marshmallow import Schema, ValidationError, fields, validate

from consent_api.orgs.types import DATA_ORG_TYPES
from consent_api.wording import visible

PROFILE_FIELDS = ("description", "website", "logo_url")


# What RFC 3986 lets stand in a URL as it is (less the quote and angle brackets it forbids),
# every % starting an escape.
_URL_CHARACTERS = re.compile(r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})+")
# Names that public DNS never answers (RFC 6761, 6762, 8375; .internal by ICANN, 2024).
_PRIVATE_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa", ".lan")


def public_https_url(value: str) -> None:
    """Refuse what is no public https URL a patient may be shown: user info (which can make
    `https://st-demo.example@evil.example` look like another site), a bad port, characters a
    URL may not hold, and local hosts or bare addresses."""
    parts = urlsplit(value)
    try:
        port = parts.port
    except ValueError:
        port = 0
    host = parts.hostname or ""
    try:
        ipaddress.ip_address(host)
        literal = True
    except ValueError:
        literal = False
    if (
        not _URL_CHARACTERS.fullmatch(value)
        or parts.username is not None
        or port == 0
        or literal
        or host == "localhost"
        or host.endswith(_PRIVATE_SUFFIXES)
    ):
        raise ValidationError("Must be a public https URL, without user name or password.")


def _https_url() -> fields.String:
    return fields.String(
        allow_none=True,
        validate=[
            validate.Length(max=500),
            validate.URL(schemes={"https"}, require_tld=True, error="Must be an https URL."),
            public_https_url,
        ],
    )


class ProfileIn(Schema):
    """An organisation's public profile, as the directory shows it; null clears a field."""

    description = fields.String(allow_none=True, validate=validate.Length(max=1000))
    website = _https_url()
    logo_url = _https_url()


class OrgRefOut(Schema):
    """An organisation named in someone else's record: its id and name only."""

    id = fields.UUID()
    name = fields.String()


class DirectoryQuery(Schema):
    """Filters and paging of the directory."""

    type = fields.String(validate=validate.OneOf(DATA_ORG_TYPES))
    q = fields.String(validate=validate.Length(min=1, max=200))
    cursor = fields.String(validate=validate.Length(max=200))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class DirectoryEntryOut(Schema):
    """An organisation in the directory: who it is, never its credentials or status."""

    id = fields.UUID()
    name = fields.String()
    type = fields.String()
    description = fields.String(allow_none=True)
    website = fields.String(allow_none=True)
    logo_url = fields.String(allow_none=True)


class OrgOut(DirectoryEntryOut):
    """An organisation as the operator and the organisation itself see it."""

    status = fields.String()
    created_at = fields.DateTime()
    suspended_at = fields.DateTime(allow_none=True)
    suspension_reason = fields.String(allow_none=True)


class SuspendIn(Schema):
    """Why the operator suspends an organisation: shown to it and to its patients."""

    reason = fields.String(load_default=None, validate=[validate.Length(min=1, max=500), visible])


class OrgListOut(Schema):
    """Every organisation."""

    items = fields.List(fields.Nested(OrgOut))


class DirectoryPageOut(Schema):
    """A page of the directory and the cursor of the next."""

    items = fields.List(fields.Nested(DirectoryEntryOut))
    next_cursor = fields.String(allow_none=True)
