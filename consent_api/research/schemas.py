"""Input and output shapes of research preferences."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from consent_api.consents.schemas import codes
from consent_api.research import codes as positions

DEFAULT_MAX_PER_MONTH = 2
LISTS = ("purposes", "data_categories", "org_types")


class PreferencesIn(Schema):
    """The whole preference, replaced; opted in, it must accept something of each kind."""

    opted_in = fields.Boolean(required=True, truthy={True}, falsy={False})
    purposes = codes(positions.PURPOSES, min_length=0)
    data_categories = codes(positions.DATA_CATEGORIES, min_length=0)
    org_types = codes(positions.ORG_TYPES, min_length=0)
    max_invitations_per_month = fields.Integer(
        load_default=DEFAULT_MAX_PER_MONTH, strict=True, validate=validate.Range(min=1, max=30)
    )

    @validates_schema
    def _something_of_each(self, data, **kwargs):
        if not data.get("opted_in"):
            return
        empty = {name: ["Name at least one to opt in."] for name in LISTS if not data.get(name)}
        if empty:
            raise ValidationError(empty)


class PreferencesOut(Schema):
    """The patient's research preferences (the defaults, opted out, until they set them)."""

    opted_in = fields.Boolean()
    purposes = fields.List(fields.String())
    data_categories = fields.List(fields.String())
    org_types = fields.List(fields.String())
    max_invitations_per_month = fields.Integer()
    updated_at = fields.DateTime(allow_none=True)
