"""A reported use of a patient's data, or a refused attempt: the patient's access history."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from consent_api.orgs.models import Organisation
from server.db import db, utcnow, uuid_pk

OUTCOMES = ("permitted", "refused")


class DataUse(db.Model):
    """One use (or refused attempt), decided at `occurred_at`; never rewritten."""

    __tablename__ = "data_uses"
    __table_args__ = (
        CheckConstraint(f"outcome IN {OUTCOMES!r}", name="outcome_known"),
        CheckConstraint("record_count >= 0", name="record_count_not_negative"),
        Index("ix_data_uses_patient_occurred", "patient_id", "occurred_at"),
        Index("ix_data_uses_org_created", "org_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    holder_org_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"))
    recipient: Mapped[str | None] = mapped_column(String(200))
    data_categories: Mapped[list[str]] = mapped_column(JSON)
    purpose: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(20))
    record_count: Mapped[int] = mapped_column(Integer)
    occurred_at: Mapped[datetime]
    data_date_start: Mapped[date | None]
    data_date_end: Mapped[date | None]
    outcome: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(String(40))
    emergency: Mapped[bool] = mapped_column(default=False)
    # [{"consent_id", "consent_version", "data_categories"}]: what the use relied on.
    consents: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # The gross fee (points) of the consents relied on, and the patient's share of it.
    fee: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    points_credited: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    # Read-only: the reporting organisation and the data holder, whose names the patient reads.
    org: Mapped[Organisation] = relationship(foreign_keys=[org_id], viewonly=True)
    holder: Mapped[Organisation | None] = relationship(foreign_keys=[holder_org_id], viewonly=True)


class RefusalAlert(db.Model):
    """Refused attempts by one organisation on one patient's data within one window: the
    first alerts the patient (pushed at once); the rest are counted into that alert, so a
    probing organisation cannot flood the patient's phone."""

    __tablename__ = "refusal_alerts"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), primary_key=True)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(primary_key=True)
    # The inbox notice that carries the alert (written in the same transaction).
    notification_id: Mapped[uuid.UUID]
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    last_at: Mapped[datetime]
