"""Organisations: hospitals, pharma, insurers, researchers and the operator."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from consent_api.orgs.types import ORG_TYPES
from server.db import db, utcnow, uuid_pk


class Organisation(db.Model):
    """A party that holds or uses patients' data, or operates the trust."""

    __tablename__ = "organisations"
    __table_args__ = (
        CheckConstraint(f"type IN {ORG_TYPES!r}", name="type_known"),
        CheckConstraint("status IN ('active', 'suspended')", name="status_known"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="active")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    suspended_at: Mapped[datetime | None]
    # Why it is suspended (the blacklist's entry), shown to its patients and to itself.
    suspension_reason: Mapped[str | None] = mapped_column(String(500))
    # What a rule's automatic suspension refers to (its incident), until an operator takes
    # the suspension over (suspends or restates it): only such a one may be lifted by
    # dismissing the incident.
    suspension_ref: Mapped[uuid.UUID | None]
    # The public profile the directory shows (GET /v1/orgs); https URLs only.
    description: Mapped[str | None] = mapped_column(String(1000))
    website: Mapped[str | None] = mapped_column(String(500))
    logo_url: Mapped[str | None] = mapped_column(String(500))

    @property
    def is_active(self) -> bool:
        """Whether the organisation may act at all."""
        return self.status == "active"
