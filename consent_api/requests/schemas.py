"""Input and output shapes of consent requests."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from consent_api.consents.schemas import ScopeFields, data_period, visible_exclusions, when
from consent_api.consents.scope import normalise_exclusions
from consent_api.links import refs
from consent_api.links.schemas import PatientNamedIn
from server.http import rendered


class RequestIn(ScopeFields, PatientNamedIn):
    """An organisation asks a patient (named as it knows them) for consent to a scope."""

    justification = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    expires_at = when(required=True)
    fee_per_use = fields.Integer(
        load_default=0, strict=True, validate=validate.Range(min=0, max=1_000_000)
    )


class ApproveIn(ScopeFields):
    """The patient approves, optionally narrowing the scope (never widening it)."""


class RequestListQuery(Schema):
    """Filters and paging for request lists."""

    status = fields.String(
        validate=validate.OneOf(("pending", "approved", "denied", "expired", "withdrawn"))
    )
    cursor = fields.String(validate=validate.Length(max=200))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class InvitingStudyOut(Schema):
    """The study a request invites the patient to: what it is for, and its ethics approval."""

    id = fields.UUID()
    title = fields.String()
    description = fields.String()
    purpose = fields.String()
    ethics_reference = fields.String()
    starts_on = fields.Date()
    ends_on = fields.Date()


class RequestOut(Schema):
    """A consent request (its status as of the rendering's `now`), as the patient sees it."""

    id = fields.UUID()
    org_id = fields.UUID()
    org_name = fields.String(attribute="org.name")
    patient_id = fields.UUID()
    data_categories = fields.List(fields.String())
    purposes = fields.List(fields.String())
    actions = fields.List(fields.String())
    data_period = fields.Function(data_period, allow_none=True)
    valid_from = fields.DateTime(allow_none=True)
    valid_until = fields.DateTime(allow_none=True)
    max_uses = fields.Integer(allow_none=True)
    # As asked: each exclusion lists only the dimensions it was given.
    exclusions = fields.Function(lambda request: normalise_exclusions(request.exclusions))
    justification = fields.String()
    fee_per_use = fields.Integer()
    expires_at = fields.DateTime()
    status = fields.Function(lambda request: request.effective_status(rendered("now")))
    summary = fields.String()
    consent_id = fields.UUID(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    decision_reason = fields.String(allow_none=True)
    # An invitation to a study (filed by the service from the study the operator approved),
    # or null for an organisation's own request.
    study = fields.Nested(InvitingStudyOut, allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class RequestPageOut(Schema):
    """A page of consent requests, as the patient sees them."""

    items = fields.List(fields.Nested(RequestOut))
    next_cursor = fields.String(allow_none=True)


class GrantedOut(Schema):
    """The terms a patient granted in answer to a request (its consent's first version, as
    narrowed), as the asking organisation sees them."""

    consent_id = fields.String()
    data_categories = fields.List(fields.String())
    purposes = fields.List(fields.String())
    actions = fields.List(fields.String())
    data_period = fields.Raw(allow_none=True)
    valid_from = fields.String()
    valid_until = fields.String(allow_none=True)
    max_uses = fields.Integer(allow_none=True)
    exclusions = fields.List(fields.Dict())


_GRANTED = GrantedOut()


def granted(request) -> dict | None:
    """What the patient granted the organisation in answer to `request`, or None unless
    approved: as approved, whatever the patient changed since (the consent's own read shows
    it as it stands)."""
    if request.consent is None:
        return None
    kept = request.consent.versions[0].snapshot  # as the patient saw it (ConsentOut)
    return _GRANTED.dump(
        {
            **kept,
            "consent_id": str(refs.shown_consent_id(request.org_id, request.consent.id)),
            "exclusions": visible_exclusions(kept["exclusions"], request.org_id),
        }
    )


class OrgRequestOut(RequestOut):
    """A consent request as the asking organisation sees it: the patient by its reference."""

    class Meta:
        exclude = ("patient_id", "study")  # the organisation never sees invitations

    patient_ref = fields.Function(lambda request: refs.encode(request.org_id, request.patient_id))
    consent_id = fields.Function(
        lambda request: (
            str(refs.shown_consent_id(request.org_id, request.consent_id))
            if request.consent_id
            else None
        ),
        allow_none=True,
    )
    granted = fields.Function(granted, allow_none=True)


class OrgRequestPageOut(Schema):
    """A page of the organisation's consent requests."""

    items = fields.List(fields.Nested(OrgRequestOut))
    next_cursor = fields.String(allow_none=True)
