"""Input and output shapes of consents; the scope fields are shared with consent requests."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from consent_api import catalog
from consent_api.consents import propagation
from consent_api.links import refs
from consent_api.orgs.types import DATA_ORG_TYPES
from server.http import Rendering, rendered, when

CATEGORY_CODES = (*catalog.CATEGORIES, catalog.ALL)


def codes(choices, *, required: bool = True, min_length: int = 1, **kwargs) -> fields.List:
    """A list of catalog codes, each checked, no duplicates."""
    return fields.List(
        fields.String(validate=validate.OneOf(choices)),
        required=required,
        validate=[validate.Length(min=min_length, max=len(choices)), _unique],
        **kwargs,
    )


def _unique(values: list) -> None:
    if len(set(values)) != len(values):
        raise ValidationError("Each code may appear once.")


class GranteeSchema(Schema):
    """Exactly one of: a named organisation, or every organisation of a type."""

    org_id = fields.UUID()
    org_type = fields.String(validate=validate.OneOf(DATA_ORG_TYPES))

    @validates_schema
    def _exactly_one(self, data, **kwargs):
        if ("org_id" in data) == ("org_type" in data):
            raise ValidationError("Give exactly one of org_id or org_type.", "_schema")


class PeriodSchema(Schema):
    """The clinical data period: records dated in [start, end]; either end may be open."""

    start = fields.Date(load_default=None)
    end = fields.Date(load_default=None)

    @validates_schema
    def _ordered(self, data, **kwargs):
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            raise ValidationError("start must not be after end.", "end")


class ExclusionSchema(Schema):
    """A deny exception; it applies where all its listed dimensions match."""

    data_categories = codes(tuple(catalog.CATEGORIES), required=False, min_length=0)
    purposes = codes(tuple(catalog.PURPOSES), required=False, min_length=0)
    org_ids = fields.List(fields.UUID(), validate=validate.Length(max=100))

    @validates_schema
    def _not_empty(self, data, **kwargs):
        if not any(data.get(key) for key in ("data_categories", "purposes", "org_ids")):
            raise ValidationError("An exclusion needs a category, a purpose or an org.", "_schema")


class ScopeFields(Schema):
    """The fields of a scope, shared by consents, patches, requests and approvals."""

    data_categories = codes(CATEGORY_CODES)
    purposes = codes(tuple(catalog.PURPOSES))
    actions = codes(tuple(catalog.ACTIONS))
    data_period = fields.Nested(PeriodSchema, allow_none=True)
    valid_from = when()
    valid_until = when(allow_none=True)
    max_uses = fields.Integer(
        allow_none=True, strict=True, validate=validate.Range(min=1, max=10_000_000)
    )
    exclusions = fields.List(fields.Nested(ExclusionSchema), validate=validate.Length(max=50))

    @validates_schema
    def _validity_ordered(self, data, **kwargs):
        start, end = data.get("valid_from"), data.get("valid_until")
        if start and end and end <= start:
            raise ValidationError("valid_until must be after valid_from.", "valid_until")


class ConsentIn(ScopeFields):
    """A patient grants a consent."""

    grantee = fields.Nested(GranteeSchema, required=True)


class ConsentPatch(ScopeFields):
    """A patient amends a consent; every field optional. The grantee cannot change."""


class ReasonIn(Schema):
    """An optional free-text reason (revoke, deny)."""

    reason = fields.String(load_default=None, validate=validate.Length(max=500))


class RevokeAllIn(ReasonIn):
    """Revoke everything one organisation holds."""

    org_id = fields.UUID(required=True)


class ConsentListQuery(Schema):
    """Filters and paging for the patient's list."""

    status = fields.String(validate=validate.OneOf(("active", "paused", "revoked", "expired")))
    data_category = fields.String(validate=validate.OneOf(CATEGORY_CODES))
    purpose = fields.String(validate=validate.OneOf(tuple(catalog.PURPOSES)))
    org_id = fields.UUID()
    cursor = fields.String(validate=validate.Length(max=200))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class OrgConsentListQuery(ConsentListQuery):
    """Filters and paging for an organisation's mirror of the consents it holds."""

    class Meta:
        exclude = ("org_id",)

    updated_since = when()


# --- what consents look like -----------------------------------------------------------------


class GranteeOut(Schema):
    """Who a consent names: one organisation (with its name) or every one of a type."""

    org_id = fields.UUID(attribute="grantee_org_id", allow_none=True)
    # A named organisation's type too: an app shows "a hospital" beside its name.
    org_type = fields.Function(
        lambda consent: (
            consent.grantee_org.type if consent.grantee_org_id else consent.grantee_org_type
        )
    )
    org_name = fields.Function(
        lambda consent: consent.grantee_org.name if consent.grantee_org_id else None,
        allow_none=True,
    )
    # The blacklist: a named organisation's suspension, since when and why (null while active).
    suspension = fields.Function(lambda consent: _suspension(consent), allow_none=True)


class SuspensionOut(Schema):
    """Since when and why an organisation is suspended."""

    suspended_at = fields.DateTime(allow_none=True)
    reason = fields.String(attribute="suspension_reason", allow_none=True)


_SUSPENSION = SuspensionOut()


def _suspension(consent: Any) -> dict[str, Any] | None:
    """The named grantee's suspension now; never in a kept version, which would otherwise
    keep an allegation the operator may later dismiss."""
    org = consent.grantee_org if consent.grantee_org_id else None
    if org is None or org.is_active or Rendering.get().get("kept"):
        return None
    return _SUSPENSION.dump(org)


class PeriodOut(Schema):
    start = fields.Date(allow_none=True)
    end = fields.Date(allow_none=True)


class ExclusionOut(Schema):
    """A stored exclusion, every dimension shown (an empty list: any)."""

    data_categories = fields.List(fields.String(), dump_default=list)
    purposes = fields.List(fields.String(), dump_default=list)
    org_ids = fields.List(fields.String(), dump_default=list)


_GRANTEE, _PERIOD, _EXCLUSION = GranteeOut(), PeriodOut(), ExclusionOut()


def data_period(target: Any) -> dict | None:
    """The clinical data period of a consent or request, or None when it has neither end."""
    if target.data_period_start is None and target.data_period_end is None:
        return None
    return _PERIOD.dump({"start": target.data_period_start, "end": target.data_period_end})


class ConsentTermsOut(Schema):
    """The terms of a consent and its state (as of the rendering's `now`): what its patient
    and its grantee both see."""

    id = fields.UUID()
    grantee = fields.Function(_GRANTEE.dump)
    data_categories = fields.List(fields.String())
    purposes = fields.List(fields.String())
    actions = fields.List(fields.String())
    data_period = fields.Function(data_period, allow_none=True)
    valid_from = fields.DateTime()
    valid_until = fields.DateTime(allow_none=True)
    max_uses = fields.Integer(allow_none=True)
    use_count = fields.Integer()
    exclusions = fields.List(fields.Nested(ExclusionOut))
    fee_per_use = fields.Integer()
    status = fields.Function(lambda consent: consent.effective_status(rendered("now")))
    version = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ConsentOut(ConsentTermsOut):
    """A consent as its patient sees it (and as each version is kept)."""

    summary = fields.String()
    request_id = fields.UUID(allow_none=True)
    revoked_at = fields.DateTime(allow_none=True)
    revoke_reason = fields.String(allow_none=True)


class VersionOut(Schema):
    """One kept version: the consent exactly as the patient saw it then."""

    version = fields.Integer()
    change = fields.String()
    created_at = fields.DateTime()
    consent = fields.Dict(attribute="snapshot")


class VersionExportOut(VersionOut):
    """A kept version in the patient's export."""

    consent_id = fields.UUID()


class NoticeOrgOut(Schema):
    id = fields.UUID(attribute="org_id")
    name = fields.String(attribute="org_name")


class NoticeOut(Schema):
    """Whether one organisation has received one change of the consent, and when."""

    version = fields.Integer()
    change = fields.String()
    organisation = fields.Function(lambda notice: _NOTICE_ORG.dump(notice))
    status = fields.Function(lambda notice: "received" if notice.received_at else "sent")
    sent_at = fields.DateTime()
    received_at = fields.DateTime(allow_none=True)
    received_via = fields.String(allow_none=True)
    summary = fields.Function(lambda notice: propagation.summary(notice))


_NOTICE_ORG = NoticeOrgOut()


class ConsentWithHistoryOut(ConsentOut):
    """A consent with every version, oldest first, and who has received each change."""

    versions = fields.List(fields.Nested(VersionOut))
    propagation = fields.List(fields.Nested(NoticeOut))


class ConsentListOut(Schema):
    """Consents, e.g. those one revoke-all changed."""

    items = fields.List(fields.Nested(ConsentOut))


class ConsentPageOut(ConsentListOut):
    """A page of the patient's consents."""

    next_cursor = fields.String(allow_none=True)


def visible_exclusions(exclusions: list[dict] | None, viewer: Any) -> list[dict]:
    """A consent's exclusions as its grantee `viewer` may see them: those naming other
    organisations left out, those naming it naming only it."""
    viewer = str(viewer)
    visible = []
    for exclusion in exclusions or []:
        org_ids = exclusion.get("org_ids")
        if org_ids and viewer not in org_ids:
            continue  # an exclusion of someone else: not the caller's business
        visible.append({**_EXCLUSION.dump(exclusion), "org_ids": [viewer] if org_ids else []})
    return visible


class OrgConsentOut(ConsentTermsOut):
    """A consent as the organisation it was granted to sees it (the rendering's `viewer`): by
    the id that organisation knows it by, the patient by the reference it knows them by;
    exclusions naming other organisations are left out, those naming it name only it."""

    id = fields.Function(lambda consent: str(refs.shown_consent_id(rendered("viewer"), consent.id)))
    patient_ref = fields.Function(
        lambda consent: refs.encode(rendered("viewer"), consent.patient_id)
    )
    exclusions = fields.Function(
        lambda consent: visible_exclusions(consent.exclusions, rendered("viewer"))
    )
    # On a consent to every organisation of a type, the count holds the others' uses too:
    # how often they used the patient's data is not this organisation's to know.
    use_count = fields.Function(
        lambda consent: consent.use_count if consent.grantee_org_id else None, allow_none=True
    )


class HeldConsentOut(OrgConsentOut):
    """A consent an organisation holds, as it reads it now: with when and why (a code, never
    the patient's own words) it was revoked."""

    revoked_at = fields.DateTime(allow_none=True)
    revocation_reason = fields.String(allow_none=True)


class OrgConsentPageOut(Schema):
    """A page of the consents an organisation holds."""

    items = fields.List(fields.Nested(HeldConsentOut))
    next_cursor = fields.String(allow_none=True)


# --- receipts --------------------------------------------------------------------------------


class ReceiptQuery(Schema):
    """Which version's receipt: the latest unless told."""

    version = fields.Integer(strict=False, validate=validate.Range(min=1, max=2**31 - 1))


class ReceiptOut(Schema):
    """A version's signed receipt: its id, the compact JWS, and the claims it signs."""

    receipt_id = fields.UUID(attribute="id")
    consent_id = fields.UUID()
    version = fields.Integer()
    jws = fields.String()
    claims = fields.Dict()
