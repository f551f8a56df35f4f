"""The patient's access history: every use of their data and every refused attempt, and
each organisation's receipt of a change to their consents ("St Mary's received your
revocation at 10:02:07"), newest first, one cursor across both."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select, tuple_
from sqlalchemy.orm import selectinload

from consent_api.consents import propagation
from consent_api.consents.propagation import Notice
from consent_api.events.models import OrgEvent
from consent_api.patients.models import Patient
from consent_api.uses.models import DataUse
from server import pagination
from server.db import db

DATA_USE, CONSENT_NOTICE = "data_use", "consent_notice"
# Filters that only data uses have: with any of them, the history shows only uses.
_USE_FILTERS = ("data_category", "purpose", "outcome")


def _filtered(patient: Patient, query: dict[str, Any]) -> Select:
    statement = select(DataUse).where(DataUse.patient_id == patient.id)
    if "org_id" in query:
        statement = statement.where(DataUse.org_id == query["org_id"])
    if "purpose" in query:
        statement = statement.where(DataUse.purpose == query["purpose"])
    if "outcome" in query:
        statement = statement.where(DataUse.outcome == query["outcome"])
    if "since" in query:
        statement = statement.where(DataUse.occurred_at >= query["since"])
    if "until" in query:
        statement = statement.where(DataUse.occurred_at < query["until"])
    # The organisations' names, one query per page for all of its lines.
    return statement.options(selectinload(DataUse.org), selectinload(DataUse.holder))


def _uses(patient: Patient, query: dict[str, Any]) -> pagination.Page:
    category = query.get("data_category")
    return pagination.scan(
        db.session,
        _filtered(patient, query),
        order_column=DataUse.occurred_at,
        id_column=DataUse.id,
        order_attr="occurred_at",
        cursor=query.get("cursor"),
        limit=query["limit"],
        keep=lambda use: category is None or category in use.data_categories,
        descending=True,
    )


def _notices(patient: Patient, query: dict[str, Any]) -> list[Notice]:
    """Up to limit + 1 notices after the cursor, newest first."""
    at = propagation.NOTICE_AT
    statement = propagation.notices(patient.id)
    if "org_id" in query:
        statement = statement.where(OrgEvent.org_id == query["org_id"])
    if "since" in query:
        statement = statement.where(at >= query["since"])
    if "until" in query:
        statement = statement.where(at < query["until"])
    if query.get("cursor"):
        when, row_id = pagination.decode(query["cursor"])
        statement = statement.where(tuple_(at, OrgEvent.id) < tuple_(when, row_id))
    rows = db.session.execute(
        statement.order_by(at.desc(), OrgEvent.id.desc()).limit(query["limit"] + 1)
    ).all()
    return [Notice(*row) for row in rows]


def page(patient: Patient, query: dict[str, Any]) -> pagination.Page:
    """One page of the patient's access history, newest first: uses and refused attempts,
    and (unless a filter only uses have is given, or `kind` says otherwise) notices."""
    kind = query.get("kind")
    only_uses = kind == DATA_USE or any(name in query for name in _USE_FILTERS)
    uses = _uses(patient, query) if kind != CONSENT_NOTICE else pagination.Page([], None)
    notices = [] if only_uses else _notices(patient, query)
    merged = sorted(
        [*uses.items, *notices], key=lambda entry: (entry.occurred_at, entry.id), reverse=True
    )
    limit = query["limit"]
    items = merged[:limit]
    more = len(merged) > limit or uses.next_cursor is not None or len(notices) > limit
    if not more or not items:
        return pagination.Page(items, None)
    return pagination.Page(items, pagination.encode(items[-1].occurred_at, items[-1].id))


def everything(patient: Patient) -> list[DataUse]:
    """The patient's whole access history, oldest first (for the export)."""
    return list(
        db.session.scalars(
            select(DataUse)
            .where(DataUse.patient_id == patient.id)
            .order_by(DataUse.occurred_at, DataUse.id)
            .options(selectinload(DataUse.org), selectinload(DataUse.holder))
        )
    )
