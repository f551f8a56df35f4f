"""Input and output shapes of data uses and the patient's access history."""

from __future__ import annotations

import uuid
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from consent_api import catalog
from consent_api.catalog.schemas import Labelled
from consent_api.consents.propagation import Notice
from consent_api.consents.schemas import NoticeOut, codes, when
from consent_api.links import refs
from consent_api.links.schemas import PatientNamedIn
from consent_api.orgs.schemas import OrgRefOut
from consent_api.uses.models import OUTCOMES
from consent_api.uses.notices import REASONS


class DateRangeIn(Schema):
    """The clinical dates of the records used, inclusive."""

    start = fields.Date(required=True)
    end = fields.Date(required=True)

    @validates_schema
    def _ordered(self, data, **kwargs):
        if data["end"] < data["start"]:
            raise ValidationError("end must not be before start.", "end")


class DataUseIn(PatientNamedIn):
    """An organisation reports one use of one patient's data (named as it knows them)."""

    data_categories = codes(tuple(catalog.CATEGORIES))
    purpose = fields.String(required=True, validate=validate.OneOf(tuple(catalog.PURPOSES)))
    action = fields.String(required=True, validate=validate.OneOf(tuple(catalog.ACTIONS)))
    record_count = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=1, max=1_000_000_000)
    )
    occurred_at = when(required=True)
    holder_org_id = fields.UUID(load_default=None, allow_none=True)
    recipient = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(min=1, max=200)
    )
    data_date_range = fields.Nested(DateRangeIn, load_default=None, allow_none=True)


class ReliedOnOut(Schema):
    consent_id = fields.UUID()
    consent_version = fields.Integer()
    data_categories = fields.List(fields.String())


class DateRangeOut(Schema):
    start = fields.Date()
    end = fields.Date()


_RANGE = DateRangeOut()


def data_date_range(use: Any) -> dict | None:
    """The clinical dates of the records a use covered, or None when it did not say."""
    if use.data_date_start is None:
        return None
    return _RANGE.dump({"start": use.data_date_start, "end": use.data_date_end})


_RELIED_ON = ReliedOnOut()


def _relied_on_as_shown(use: Any) -> list[dict]:
    """The consents a use relied on, by the ids its organisation knows them by."""
    shown = refs.shown_consent_ids(use.org_id, [uuid.UUID(c["consent_id"]) for c in use.consents])
    return [
        _RELIED_ON.dump({**c, "consent_id": s}) for c, s in zip(use.consents, shown, strict=True)
    ]


class DataUseOut(Schema):
    """A recorded use, as the reporting organisation sees it."""

    id = fields.UUID()
    patient_ref = fields.Function(lambda use: refs.encode(use.org_id, use.patient_id))
    org_id = fields.UUID()
    holder_org_id = fields.UUID(allow_none=True)
    recipient = fields.String(allow_none=True)
    data_categories = fields.List(fields.String())
    purpose = fields.String()
    action = fields.String()
    record_count = fields.Integer()
    occurred_at = fields.DateTime()
    data_date_range = fields.Function(data_date_range, allow_none=True)
    outcome = fields.String()
    reason = fields.String()
    emergency = fields.Boolean()
    consents = fields.Function(lambda use: _relied_on_as_shown(use))
    points_credited = fields.Integer()
    recorded_at = fields.DateTime(attribute="created_at")


class DataUsePageOut(Schema):
    """A page of the organisation's own reports, newest first."""

    items = fields.List(fields.Nested(DataUseOut))
    next_cursor = fields.String(allow_none=True)


class DataUseQuery(Schema):
    """Filters and paging for an organisation's own reports (newest recorded first)."""

    patient_ref = fields.String(validate=validate.Length(equal=refs.LENGTH))
    data_category = fields.String(validate=validate.OneOf(tuple(catalog.CATEGORIES)))
    purpose = fields.String(validate=validate.OneOf(tuple(catalog.PURPOSES)))
    outcome = fields.String(validate=validate.OneOf(OUTCOMES))
    consent_id = fields.UUID()
    since = when()
    until = when()
    cursor = fields.String(validate=validate.Length(max=200))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class AccessLogEntryOut(Schema):
    """One line of the patient's access history, every code with its plain label."""

    kind = fields.Constant("data_use")
    id = fields.UUID()
    occurred_at = fields.DateTime()
    recorded_at = fields.DateTime(attribute="created_at")
    organisation = fields.Nested(OrgRefOut, attribute="org")
    holder = fields.Nested(OrgRefOut, allow_none=True)
    recipient = fields.String(allow_none=True)
    data_categories = fields.List(Labelled(catalog.CATEGORIES))
    purpose = Labelled(catalog.PURPOSES)
    action = Labelled(catalog.ACTIONS)
    record_count = fields.Integer()
    data_date_range = fields.Function(data_date_range, allow_none=True)
    outcome = fields.String()
    reason = Labelled(REASONS)
    emergency = fields.Boolean()
    consents = fields.List(fields.Nested(ReliedOnOut))
    points_credited = fields.Integer()


class NoticeEntryOut(NoticeOut):
    """A line of the history: an organisation's news of a change to one of the consents."""

    kind = fields.Constant("consent_notice")
    occurred_at = fields.DateTime()
    consent_id = fields.UUID()


_USE_ENTRY, _NOTICE_ENTRY = AccessLogEntryOut(), NoticeEntryOut()


def _entry(entry: Any) -> dict[str, Any]:
    if isinstance(entry, Notice):
        return _NOTICE_ENTRY.dump(entry)
    return _USE_ENTRY.dump(entry)


class AccessLogPageOut(Schema):
    """A page of the access history, newest first."""

    items = fields.Function(lambda page: [_entry(entry) for entry in page.items])
    next_cursor = fields.String(allow_none=True)


class AccessLogQuery(Schema):
    """Filters and paging for the access history (newest first)."""

    org_id = fields.UUID()
    data_category = fields.String(validate=validate.OneOf(tuple(catalog.CATEGORIES)))
    purpose = fields.String(validate=validate.OneOf(tuple(catalog.PURPOSES)))
    outcome = fields.String(validate=validate.OneOf(OUTCOMES))
    kind = fields.String(validate=validate.OneOf(("data_use", "consent_notice")))
    since = when()
    until = when()
    cursor = fields.String(validate=validate.Length(max=200))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
