"""A patient's research preferences: one row per patient who ever set them."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer
from sqlalchemy.orm import Mapped, mapped_column

from server.db import db


class ResearchPreference(db.Model):
    """Whether the patient may be invited to studies, for which purposes, data and kinds of
    organisation (codes.py masks), and how many invitations a month at most."""

    __tablename__ = "research_preferences"
    __table_args__ = (
        CheckConstraint(
            "max_invitations_per_month BETWEEN 1 AND 30", name="max_invitations_in_range"
        ),
        # Counting who accepts a scope reads only the opted-in rows.
        Index("ix_research_preferences_opted_in", "opted_in", "patient_id"),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), primary_key=True)
    opted_in: Mapped[bool]
    purposes_mask: Mapped[int] = mapped_column(Integer)
    categories_mask: Mapped[int] = mapped_column(BigInteger)
    org_types_mask: Mapped[int] = mapped_column(Integer)
    max_invitations_per_month: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
