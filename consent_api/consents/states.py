"""A consent's terms and state as of one change, kept as JSON in the event that tells of it,
and read back as an object the output schemas render (`OrgConsentOut`), so an event shows
the consent as it was then, whatever it became since."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from marshmallow import Schema, fields, post_load

from consent_api.consents.models import Consent
from server.http import dump, rendered


@dataclass(frozen=True)
class ConsentState:
    """What a consent was at one version (its status already the effective one)."""

    id: uuid.UUID
    patient_id: uuid.UUID
    grantee_org_id: uuid.UUID | None
    grantee_org_type: str | None
    data_categories: list[str]
    purposes: list[str]
    actions: list[str]
    data_period_start: date | None
    data_period_end: date | None
    valid_from: datetime
    valid_until: datetime | None
    max_uses: int | None
    use_count: int
    exclusions: list[dict[str, Any]]
    fee_per_use: int
    status: str
    version: int
    created_at: datetime
    updated_at: datetime
    revoked_at: datetime | None
    grantee_org: Any = None  # the named grantee, when rendered for it

    def effective_status(self, now: datetime) -> str:
        """The status it had then (an event does not age)."""
        return self.status

    def for_grantee(self, org: Any) -> ConsentState:
        """The same state, rendered for `org` (named grantees show their own name)."""
        return replace(self, grantee_org=org if self.grantee_org_id == org.id else None)


class _StateSchema(Schema):
    id = fields.UUID()
    patient_id = fields.UUID()
    grantee_org_id = fields.UUID(allow_none=True)
    grantee_org_type = fields.String(allow_none=True)
    data_categories = fields.List(fields.String())
    purposes = fields.List(fields.String())
    actions = fields.List(fields.String())
    data_period_start = fields.Date(allow_none=True)
    data_period_end = fields.Date(allow_none=True)
    valid_from = fields.AwareDateTime()
    valid_until = fields.AwareDateTime(allow_none=True)
    max_uses = fields.Integer(allow_none=True)
    use_count = fields.Integer()
    exclusions = fields.List(fields.Dict())
    fee_per_use = fields.Integer()
    status = fields.Function(
        lambda consent: consent.effective_status(rendered("now")), deserialize=str
    )
    version = fields.Integer()
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()
    revoked_at = fields.AwareDateTime(allow_none=True)

    @post_load
    def _state(self, data: dict[str, Any], **kwargs: Any) -> ConsentState:
        return ConsentState(**data)


_SCHEMA = _StateSchema()


def state_of(consent: Consent, *, now: datetime) -> dict[str, Any]:
    """The consent as of `now`, JSON-ready."""
    return dump(_SCHEMA, consent, now=now)


def read_state(data: dict[str, Any]) -> ConsentState:
    """A kept state, read back."""
    return _SCHEMA.load(data)
