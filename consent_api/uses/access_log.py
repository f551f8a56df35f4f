"""The patient's access history: every use of their data and every refused attempt."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import selectinload

from consent_api.patients.models import Patient
from consent_api.uses.models import DataUse
from server import pagination
from server.db import db


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


def page(patient: Patient, query: dict[str, Any]) -> pagination.Page:
    """One page of the patient's access history, newest first."""
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
