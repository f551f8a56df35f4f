"""Publish the journal: each entry becomes one event per organisation it concerns, numbered
in that organisation's own gapless sequence, in the order the entries committed.

One publisher at a time (a transaction-scoped advisory lock on PostgreSQL; SQLite has one
writer anyway), so numbering needs no lock that the changes themselves would queue on. Flush
only: the worker's job commits, and the events, the new numbers and the emptied journal
land together. Organisations of a type are told of consents that name their type; a
suspended organisation's feed is kept complete, for when it is reinstated.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, or_, select

from consent_api.events.models import JournalEntry, OrgEvent, OrgEventSequence
from consent_api.orgs.models import Organisation
from consent_api.webhooks import deliveries
from consent_api.webhooks.payloads import payload
from server.db import db, only_runner

LOCK_KEY = 0x636F6E73656E74  # any constant of our own: "consent" in ASCII


def _concerned(entries: Sequence[JournalEntry]) -> dict[str, list[Organisation]]:
    """Every organisation the entries name, by id and by type (keys: ids and types)."""
    ids = {uuid.UUID(org_id) for entry in entries for org_id in entry.org_ids}
    types = {org_type for entry in entries for org_type in entry.org_types}
    found = db.session.scalars(
        select(Organisation)
        .where(or_(Organisation.id.in_(ids), Organisation.type.in_(types)))
        .order_by(Organisation.created_at, Organisation.id)
    ).all()
    concerned: dict[str, list[Organisation]] = {}
    for org in found:
        concerned.setdefault(str(org.id), []).append(org)
        if org.type in types:
            concerned.setdefault(org.type, []).append(org)
    return concerned


def _targets(entry: JournalEntry, concerned: dict[str, list[Organisation]]) -> list[Organisation]:
    seen: dict[uuid.UUID, Organisation] = {}
    for key in (*entry.org_ids, *entry.org_types):
        for org in concerned.get(key, ()):
            seen.setdefault(org.id, org)
    return list(seen.values())


def publish(*, now: datetime, batch: int = 1000) -> int:
    """Publish up to `batch` journal entries, oldest first, and queue their webhooks;
    returns how many events."""
    if not only_runner(LOCK_KEY):
        return 0  # another worker is publishing: it will take these too
    entries = db.session.scalars(select(JournalEntry).order_by(JournalEntry.seq).limit(batch)).all()
    if not entries:
        return 0
    concerned = _concerned(entries)
    orgs = {org.id for group in concerned.values() for org in group}
    counters = {
        row.org_id: row
        for row in db.session.scalars(
            select(OrgEventSequence).where(OrgEventSequence.org_id.in_(orgs))
        )
    }
    rows = []
    for entry in entries:
        for org in _targets(entry, concerned):
            counter = counters.get(org.id)
            if counter is None:
                counter = counters[org.id] = OrgEventSequence(org_id=org.id, last_seq=0)
                db.session.add(counter)
            counter.last_seq += 1
            event_id = uuid.uuid4()
            rows.append(
                {
                    "org_id": org.id,
                    "seq": counter.last_seq,
                    "id": event_id,
                    "type": entry.type,
                    "occurred_at": entry.occurred_at,
                    "published_at": now,
                    "patient_id": entry.patient_id,
                    "consent_id": entry.consent_id,
                    "consent_version": entry.consent_version,
                    "payload": payload(entry, org, seq=counter.last_seq, event_id=event_id),
                    "received_at": None,
                    "received_via": None,
                }
            )
    db.session.flush()
    if rows:
        db.session.execute(insert(OrgEvent.__table__), rows)
    db.session.execute(
        delete(JournalEntry)
        .where(JournalEntry.seq.in_([entry.seq for entry in entries]))
        .execution_options(synchronize_session=False)
    )
    if rows:
        deliveries.queue(rows, now=now)
    db.session.flush()
    return len(rows)


def purge(*, now: datetime, keep_days: int) -> int:
    """Forget events published more than `keep_days` ago (the feed keeps at least that)."""
    return db.session.execute(
        delete(OrgEvent)
        .where(OrgEvent.published_at < now - timedelta(days=keep_days))
        .execution_options(synchronize_session=False)
    ).rowcount
