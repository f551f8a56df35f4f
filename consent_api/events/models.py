"""The event journal (a queue, emptied by the worker) and each organisation's events."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db import db

# BIGSERIAL on PostgreSQL; SQLite numbers rows only through an INTEGER PRIMARY KEY.
SEQUENCE = BigInteger().with_variant(Integer(), "sqlite")


class JournalEntry(db.Model):
    """A change that organisations must hear of, written in the change's own transaction.

    It names who it concerns (organisations by id, and every organisation of a type) and
    carries what the event will say; the worker publishes it to each of them and deletes it.
    `seq` orders the entries of one consent as their transactions committed: each change
    holds the consent's row lock, so the next one's entry is numbered after it. A transient
    queue, not a record: nothing stays here once published.
    """

    __tablename__ = "event_journal"

    seq: Mapped[int] = mapped_column(SEQUENCE, primary_key=True, autoincrement=True)
    type: Mapped[str] = mapped_column(String(40))
    patient_id: Mapped[uuid.UUID | None]
    consent_id: Mapped[uuid.UUID | None]
    consent_version: Mapped[int | None]
    org_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    org_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    occurred_at: Mapped[datetime]


class OrgEvent(db.Model):
    """One event as one organisation is told it: numbered in its own gapless sequence (in the
    order the worker published it), rendered once as the organisation sees it (its patient
    references and consent ids) and kept unchanged, so a webhook resent is the same message.

    Keyed by organisation: the table distributes by organisation, not by patient. The
    patient and consent it concerns are kept (pseudonymous ids) so that the patient can see
    who has received a change of theirs, and when (`received_at`, by webhook or feed).
    """

    __tablename__ = "org_events"
    __table_args__ = (
        Index("ix_org_events_patient_consent", "patient_id", "consent_id"),
        Index("ix_org_events_published_at", "published_at"),
    )

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    id: Mapped[uuid.UUID] = mapped_column(default=uuid.uuid4)
    type: Mapped[str] = mapped_column(String(40))
    occurred_at: Mapped[datetime]
    published_at: Mapped[datetime]
    patient_id: Mapped[uuid.UUID | None]
    consent_id: Mapped[uuid.UUID | None]
    consent_version: Mapped[int | None]
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime | None]
    received_via: Mapped[str | None] = mapped_column(String(10))


class OrgEventSequence(db.Model):
    """The last number given to an organisation's events (written only by the publisher,
    one at a time, so it is no hot row for the changes themselves)."""

    __tablename__ = "org_event_sequences"

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
