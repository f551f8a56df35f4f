"""Input and output shapes of research preferences."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from consent_api.consents.schemas import codes
from consent_api.research import codes as positions
from server.http import JSONBoolean

DEFAULT_MAX_PER_MONTH = 2
LISTS = ("purposes", "data_categories", "org_types")


class PreferencesIn(Schema):
    """Opt in or out; the lists and the cap given replace the stored ones, those left out
    stay (so opting out alone keeps the choices for opting in again)."""

    opted_in = JSONBoolean(required=True)
    purposes = codes(positions.PURPOSES, required=False, min_length=0)
    data_categories = codes(positions.DATA_CATEGORIES, required=False, min_length=0)
    org_types = codes(positions.ORG_TYPES, required=False, min_length=0)
    max_invitations_per_month = fields.Integer(strict=True, validate=validate.Range(min=1, max=30))


class PreferencesOut(Schema):
    """The patient's research preferences (the defaults, opted out, until they set them)."""

    opted_in = fields.Boolean()
    purposes = fields.List(fields.String())
    data_categories = fields.List(fields.String())
    org_types = fields.List(fields.String())
    max_invitations_per_month = fields.Integer()
    updated_at = fields.DateTime(allow_none=True)


class ReleasedOut(Schema):
    """A count about patients as a data user sees it (disclosure.py): the count, or null and
    `below` when it is under the threshold."""

    count = fields.Integer(allow_none=True)
    below = fields.Integer(allow_none=True)
