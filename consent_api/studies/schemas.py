"""Input and output shapes of studies."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from consent_api import catalog
from consent_api.consents.schemas import codes
from consent_api.research.schemas import ReleasedOut
from consent_api.research.studies import PURPOSES, STATUSES
from consent_api.wording import visible


class StudyIn(Schema):
    """A study as its sponsor registers it."""

    title = fields.String(required=True, validate=[validate.Length(min=1, max=200), visible])
    description = fields.String(required=True, validate=[validate.Length(min=1, max=4000), visible])
    purpose = fields.String(required=True, validate=validate.OneOf(PURPOSES))
    data_categories = codes(tuple(catalog.CATEGORIES))
    actions = codes(tuple(catalog.ACTIONS))
    fee_per_use = fields.Integer(
        load_default=0, strict=True, validate=validate.Range(min=0, max=1_000_000)
    )
    ethics_reference = fields.String(
        required=True, validate=[validate.Length(min=1, max=200), visible]
    )
    starts_on = fields.Date(required=True)
    ends_on = fields.Date(required=True)
    recruitment_target = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=1, max=1_000_000)
    )

    @validates_schema
    def _dates_in_order(self, data, **kwargs):
        if "starts_on" in data and "ends_on" in data and data["ends_on"] <= data["starts_on"]:
            raise ValidationError("Must be after starts_on.", "ends_on")


class ReviewIn(Schema):
    """The operator's reason (required to reject, optional to approve)."""

    reason = fields.String(load_default=None, validate=[validate.Length(min=1, max=500), visible])


class StudyListQuery(Schema):
    status = fields.String(validate=validate.OneOf(STATUSES))
    cursor = fields.String(validate=validate.Length(max=200))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class InvitationCountsOut(Schema):
    """How the study's invitations went, each count suppressed below the threshold."""

    invited = fields.Nested(ReleasedOut)
    seen = fields.Nested(ReleasedOut)
    approved = fields.Nested(ReleasedOut)
    denied = fields.Nested(ReleasedOut)
    lapsed = fields.Nested(ReleasedOut)


class StudyOut(Schema):
    """A study as its sponsor and the operator see it."""

    id = fields.UUID()
    org_id = fields.UUID()
    title = fields.String()
    description = fields.String()
    purpose = fields.String()
    data_categories = fields.List(fields.String())
    actions = fields.List(fields.String())
    fee_per_use = fields.Integer()
    ethics_reference = fields.String()
    starts_on = fields.Date()
    ends_on = fields.Date()
    recruitment_target = fields.Integer()
    status = fields.String()
    review_reason = fields.String(allow_none=True)
    reviewed_at = fields.DateTime(allow_none=True)
    invitations = fields.Nested(InvitationCountsOut)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class StudyPageOut(Schema):
    items = fields.List(fields.Nested(StudyOut))
    next_cursor = fields.String(allow_none=True)
