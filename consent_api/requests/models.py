"""Consent requests: an organisation asks a patient for a scope; the patient decides."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    select,
    text,
)
from sqlalchemy.orm import Mapped, column_property, mapped_column, relationship

from consent_api.consents.models import Consent
from consent_api.orgs.models import Organisation
from consent_api.research.studies import Study
from server.db import db, utcnow, uuid_pk

STATUSES = ("pending", "approved", "denied", "expired", "withdrawn")
_PENDING = text("status = 'pending'")
_INVITATION = text("study_id IS NOT NULL")


class ConsentRequest(db.Model):
    """A request for consent, pending until the patient answers or its deadline passes."""

    __tablename__ = "consent_requests"
    __table_args__ = (
        CheckConstraint(f"status IN {STATUSES!r}", name="status_known"),
        CheckConstraint("fee_per_use >= 0", name="fee_not_negative"),
        Index("ix_consent_requests_patient_status", "patient_id", "status"),
        Index("ix_consent_requests_status_expires", "status", "expires_at"),
        # One pending request per organisation, patient and scope (duplicates.py): the
        # database refuses the second of two racing requests. Led by patient_id (STYLE.md).
        Index(
            "uq_consent_requests_pending_scope",
            "patient_id",
            "org_id",
            "scope_key",
            unique=True,
            postgresql_where=_PENDING,
            sqlite_where=_PENDING,
        ),
        # A patient is invited to a study once; their invitations, for the monthly cap.
        Index(
            "uq_consent_requests_study_patient",
            "patient_id",
            "study_id",
            unique=True,
            postgresql_where=_INVITATION,
            sqlite_where=_INVITATION,
        ),
        # A study's counts for its sponsor.
        Index(
            "ix_consent_requests_study_status",
            "study_id",
            "status",
            postgresql_where=_INVITATION,
            sqlite_where=_INVITATION,
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"), index=True)
    # No foreign key: a request to an id that is no patient (or an erased one) is kept like
    # any other and lapses unanswered, so the answer tells the organisation nothing.
    patient_id: Mapped[uuid.UUID]
    data_categories: Mapped[list[str]] = mapped_column(JSON)
    purposes: Mapped[list[str]] = mapped_column(JSON)
    actions: Mapped[list[str]] = mapped_column(JSON)
    data_period_start: Mapped[date | None]
    data_period_end: Mapped[date | None]
    valid_from: Mapped[datetime | None]
    valid_until: Mapped[datetime | None]
    max_uses: Mapped[int | None]
    exclusions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # An invitation to a study, filed by the worker (studies/fanout.py); None for an
    # organisation's own request. The sponsor never sees an invitation, only its study's counts.
    study_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("studies.id"))
    # What makes two requests the same question to the patient (duplicates.scope_key); None
    # for an invitation, which is one per study and patient instead.
    scope_key: Mapped[str | None] = mapped_column(String(64))
    justification: Mapped[str] = mapped_column(Text)
    fee_per_use: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(10), default="pending")
    summary: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[datetime | None]
    decision_reason: Mapped[str | None] = mapped_column(Text)
    reminded_at: Mapped[datetime | None]
    seen_at: Mapped[datetime | None]  # the patient's first read of it
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    # Read-only: the asking organisation (its name is shown), and the study invited to.
    org: Mapped[Organisation] = relationship(viewonly=True)
    study: Mapped[Study | None] = relationship(viewonly=True)

    def effective_status(self, now: datetime) -> str:
        """Return the status as of `now`: a pending request past its deadline is expired."""
        if self.status == "pending" and self.expires_at <= now:
            return "expired"
        return self.status


# The consent an approval created, if any (consents.request_id is unique), read with the request.
ConsentRequest.consent_id = column_property(
    select(Consent.id).where(Consent.request_id == ConsentRequest.id).scalar_subquery()
)
# Read-only: that consent, whose first version holds the terms granted (schemas.granted).
ConsentRequest.consent = relationship(
    Consent,
    primaryjoin=Consent.request_id == ConsentRequest.id,
    foreign_keys=[Consent.request_id],
    uselist=False,
    viewonly=True,
)
