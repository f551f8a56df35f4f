"""The consent: a patient-owned, versioned artefact granting one grantee a scope of use."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from consent_api.orgs.models import Organisation
from server.db import db, utcnow, uuid_pk

STATUSES = ("active", "paused", "revoked", "expired")
# Why a consent was revoked, as its grantee may be told: a code, never the patient's words.
REVOKED_BY_PATIENT, PATIENT_ERASED = "revoked_by_patient", "patient_erased"
REVOCATION_REASONS = (REVOKED_BY_PATIENT, PATIENT_ERASED)
# What deciding on a consent reads (decisions/store.py), carried by the indexes that serve
# decisions and cohort counts so that neither reads the table.
DECISION_COLUMNS = [
    "grantee_org_id",
    "grantee_org_type",
    "id",
    "version",
    "status",
    "data_categories",
    "purposes",
    "actions",
    "valid_from",
    "valid_until",
    "data_period_start",
    "data_period_end",
    "max_uses",
    "use_count",
    "exclusions",
]


class Consent(db.Model):
    """The current version of a consent; every version is kept in ConsentVersion."""

    __tablename__ = "consents"
    __table_args__ = (
        CheckConstraint(
            "(grantee_org_id IS NULL) != (grantee_org_type IS NULL)", name="one_grantee"
        ),
        CheckConstraint(f"status IN {STATUSES!r}", name="status_known"),
        CheckConstraint("max_uses IS NULL OR max_uses > 0", name="max_uses_positive"),
        CheckConstraint("use_count >= 0", name="use_count_not_negative"),
        CheckConstraint("fee_per_use >= 0", name="fee_not_negative"),
        CheckConstraint(
            f"revocation_reason IS NULL OR revocation_reason IN {REVOCATION_REASONS!r}",
            name="revocation_reason_known",
        ),
        Index("ix_consents_grantee_org_updated", "grantee_org_id", "updated_at"),
        # The consent check reads only this index (an index-only scan on PostgreSQL): one
        # patient's consents sit together in it, while in the heap they are scattered.
        Index(
            "ix_consents_decision",
            "patient_id",
            postgresql_include=DECISION_COLUMNS,
        ),
        Index("ix_consents_grantee_type_updated", "grantee_org_type", "updated_at"),
        # Cohort counts read the active consents naming one organisation, or its type, from
        # these alone (index-only scans; consent_api/cohorts/counting.py).
        *(
            Index(
                f"ix_consents_cohort_{key}",
                column,
                postgresql_include=["patient_id", *(c for c in DECISION_COLUMNS if c != column)],
                postgresql_where=text(f"status = 'active' AND {column} IS NOT NULL"),
                sqlite_where=text(f"status = 'active' AND {column} IS NOT NULL"),
            )
            for key, column in (("org", "grantee_org_id"), ("type", "grantee_org_type"))
        ),
        Index("ix_consents_status_valid_until", "status", "valid_until"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    grantee_org_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"))
    grantee_org_type: Mapped[str | None] = mapped_column(String(20))
    data_categories: Mapped[list[str]] = mapped_column(JSON)
    purposes: Mapped[list[str]] = mapped_column(JSON)
    actions: Mapped[list[str]] = mapped_column(JSON)
    data_period_start: Mapped[date | None]
    data_period_end: Mapped[date | None]
    valid_from: Mapped[datetime]
    valid_until: Mapped[datetime | None]
    max_uses: Mapped[int | None]
    use_count: Mapped[int] = mapped_column(Integer, default=0)
    exclusions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    fee_per_use: Mapped[int] = mapped_column(Integer, default=0)
    summary: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(10), default="active")
    version: Mapped[int] = mapped_column(Integer, default=1)
    request_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("consent_requests.id"), unique=True
    )
    revoked_at: Mapped[datetime | None]
    # The patient's own words: theirs alone, never shown to an organisation.
    revoke_reason: Mapped[str | None] = mapped_column(Text)
    revocation_reason: Mapped[str | None] = mapped_column(String(20))
    # The end date the patient was last reminded of (a changed end date earns a new reminder).
    expiry_reminded_for: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    # Read-only: the named grantee (its name is shown), and every version, oldest first.
    grantee_org: Mapped[Organisation | None] = relationship(viewonly=True)
    versions: Mapped[list[ConsentVersion]] = relationship(
        order_by="ConsentVersion.version", viewonly=True
    )

    def effective_status(self, now: datetime) -> str:
        """Return the status as of `now`: an active consent past its validity is expired."""
        if self.status == "active" and self.valid_until is not None and self.valid_until <= now:
            return "expired"
        return self.status


class ConsentVersion(db.Model):
    """One immutable version of a consent, as the patient saw it; never rewritten."""

    __tablename__ = "consent_versions"

    consent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("consents.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    change: Mapped[str] = mapped_column(String(20))
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
