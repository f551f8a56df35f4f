"""Link codes, the links they make, and the lookup of each organisation's identifiers."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, ForeignKeyConstraint, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from consent_api.orgs.models import Organisation
from server.db import db, utcnow

REMOVED_BY = ("patient", "organisation")


class LinkCode(db.Model):
    """A short-lived, single-use code a patient hands an organisation so that it can link them.

    Keyed by the code's public handle, a global lookup (its own table keyed by that value);
    the secret rest of the code is kept only as a keyed hash. Wrong secrets against a live
    handle are counted here, and burn the code at MAX_FAILURES.
    """

    __tablename__ = "link_codes"
    __table_args__ = (
        Index("ix_link_codes_patient", "patient_id"),
        Index("ix_link_codes_expires", "expires_at"),
    )

    handle: Mapped[str] = mapped_column(String(8), primary_key=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    secret_hash: Mapped[str] = mapped_column(String(64))
    # When the patient made the code for one organisation: no other may redeem it.
    org_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    used_at: Mapped[datetime | None]
    link_id: Mapped[uuid.UUID | None]


class PatientLink(db.Model):
    """An organisation's identifier for a patient (an MRN in its own system), made by
    redeeming the patient's link code. Kept after removal, for the record: `removed_at` says
    when and `removed_by` who; only active links resolve."""

    __tablename__ = "patient_links"
    __table_args__ = (
        CheckConstraint(f"removed_by IN {REMOVED_BY!r}", name="removed_by_known"),
        Index("ix_patient_links_org", "org_id"),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    system: Mapped[str] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    removed_at: Mapped[datetime | None]
    removed_by: Mapped[str | None] = mapped_column(String(20))

    org: Mapped[Organisation] = relationship(viewonly=True)


class LinkIdentifier(db.Model):
    """Which patient an organisation's identifier names, for the active links: unique per
    organisation, system and value, so a global lookup in its own table (keyed by them)."""

    __tablename__ = "link_identifiers"
    __table_args__ = (
        ForeignKeyConstraint(
            ["patient_id", "link_id"], ["patient_links.patient_id", "patient_links.id"]
        ),
        Index("ix_link_identifiers_link", "patient_id", "link_id"),
    )

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    system: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(String(255), primary_key=True)
    patient_id: Mapped[uuid.UUID]
    link_id: Mapped[uuid.UUID]
