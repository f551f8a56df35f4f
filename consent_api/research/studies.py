"""A study a data user registers and the operator reviews: here, below consent requests,
because a patient's invitation to a study is a consent request that shows the study."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db import db, uuid_pk

STATUSES = ("submitted", "approved", "rejected")
PURPOSES = ("HRESCH", "CLINTRL", "PUBHLTH")  # what studies are for; never care or marketing


class Study(db.Model):
    """A study: what it asks of patients, its ethics approval, its dates and target; shared
    data of the sponsoring organisation (no patient key)."""

    __tablename__ = "studies"
    __table_args__ = (
        CheckConstraint(f"status IN {STATUSES!r}", name="status_known"),
        CheckConstraint("ends_on > starts_on", name="ends_after_start"),
        CheckConstraint("fee_per_use >= 0", name="fee_not_negative"),
        CheckConstraint("recruitment_target > 0", name="target_positive"),
        Index("ix_studies_org_created", "org_id", "created_at"),
        Index("ix_studies_status_created", "status", "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(String(20))
    data_categories: Mapped[list[str]] = mapped_column(JSON)
    actions: Mapped[list[str]] = mapped_column(JSON)
    fee_per_use: Mapped[int] = mapped_column(Integer)
    ethics_reference: Mapped[str] = mapped_column(String(200))
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    recruitment_target: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    review_reason: Mapped[str | None] = mapped_column(String(500))
    reviewed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    # Not stored: the study's invitation counts, set for its sponsor's view (studies.counts).
    invitations = None

    def as_scope(self) -> dict[str, Any]:
        """What the study asks of a patient, as a consent scope."""
        return {
            "data_categories": list(self.data_categories),
            "purposes": [self.purpose],
            "actions": list(self.actions),
        }
