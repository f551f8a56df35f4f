"""What abuse detection keeps: the operator's rule settings, incidents, the patients each
incident concerns, and two running summaries of the data-use stream the rules read (hourly
counts per organisation, and when an organisation first touched each patient)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from consent_api.orgs.models import Organisation
from server.db import db, utcnow, uuid_pk

RULES = ("burst", "volume", "refusals", "emergency", "breadth")
SEVERITIES = ("low", "medium", "high")
STATES = ("open", "acknowledged", "dismissed", "escalated")
OPEN_STATES = ("open", "acknowledged")


class AbuseRule(db.Model):
    """The operator's settings for one rule (a shared, small table); a rule with no row runs
    with its documented defaults (consent_api/abuse/rules.py)."""

    __tablename__ = "abuse_rules"
    __table_args__ = (
        CheckConstraint(f"rule IN {RULES!r}", name="rule_known"),
        CheckConstraint(f"severity IN {SEVERITIES!r}", name="severity_known"),
    )

    rule: Mapped[str] = mapped_column(String(20), primary_key=True)
    enabled: Mapped[bool]
    severity: Mapped[str] = mapped_column(String(10))
    auto_suspend: Mapped[bool]
    thresholds: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Incident(db.Model):
    """One rule firing for one organisation (and, for `burst`, one patient), with its
    evidence; extended while the pattern goes on, until the operator closes it."""

    __tablename__ = "abuse_incidents"
    __table_args__ = (
        CheckConstraint(f"rule IN {RULES!r}", name="rule_known"),
        CheckConstraint(f"severity IN {SEVERITIES!r}", name="severity_known"),
        CheckConstraint(f"state IN {STATES!r}", name="state_known"),
        Index("ix_abuse_incidents_opened", "opened_at", "id"),
        Index("ix_abuse_incidents_org_rule", "org_id", "rule", "subject"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    rule: Mapped[str] = mapped_column(String(20))
    # What the incident is about within the organisation: "" for the organisation as a whole,
    # the patient's id for `burst` (so two patients' bursts are two incidents).
    subject: Mapped[str] = mapped_column(String(64), default="")
    severity: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(20), default="open")
    # The window the evidence covers (extended while the pattern goes on), the first
    # offending use's recording time, and the counts, thresholds and example uses.
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    first_seen_at: Mapped[datetime]
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    patients: Mapped[int] = mapped_column(Integer, default=0)
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Whether the rule suspended the organisation when the incident opened.
    suspended_org: Mapped[bool] = mapped_column(default=False)
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[uuid.UUID | None]
    note: Mapped[str | None] = mapped_column(String(2000))

    org: Mapped[Organisation] = relationship(viewonly=True)


class IncidentPatient(db.Model):
    """A patient an incident concerns, told of it once (however long it goes on)."""

    __tablename__ = "abuse_incident_patients"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), primary_key=True)
    incident_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("abuse_incidents.id"), primary_key=True
    )
    told_at: Mapped[datetime]


class FirstTouch(db.Model):
    """When an organisation first reported a use of (or attempt on) a patient's data: the
    `breadth` rule counts the patients first touched within its window."""

    __tablename__ = "abuse_first_touches"
    __table_args__ = (Index("ix_abuse_first_touches_org_at", "org_id", "first_at"),)

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), primary_key=True)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    first_at: Mapped[datetime]


class HourlyUses(db.Model):
    """An organisation's (permitted) uses, refused attempts and emergency uses in one complete
    hour: the
    trailing baseline of the `volume` and `emergency` rules (a shared table of counts)."""

    __tablename__ = "abuse_hourly_uses"

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    hour: Mapped[datetime] = mapped_column(primary_key=True)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    refused: Mapped[int] = mapped_column(Integer, default=0)
    emergency: Mapped[int] = mapped_column(Integer, default=0)


class ScanState(db.Model):
    """How far the detector has summarised the stream (one row): the hours counted, and the
    recording time up to which first touches are recorded."""

    __tablename__ = "abuse_scan_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The hours counted: [rolled_from, rolled_until), kept contiguous.
    rolled_from: Mapped[datetime | None]
    rolled_until: Mapped[datetime | None]
    touched_until: Mapped[datetime | None]
