"""Write an audit entry in the caller's transaction (flush only, never commit): the change and
its entry land together or not at all. No sequence number is taken (the sequencer gives
leaf indexes later), so concurrent writers share no row; the entry's row in the sequencer's
queue is written by the database itself (a trigger, migration 0025)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select

from consent_api.audit import entries
from consent_api.audit.models import AuditEntry, AuditKey
from server.db import core, db, insert_or_skip


@dataclass(frozen=True)
class Actor:
    """Who did what an entry records."""

    type: str  # one of entries.ACTORS
    id: str | None = None

    @classmethod
    def patient(cls, patient_id: uuid.UUID) -> Actor:
        return cls("patient", str(patient_id))

    @classmethod
    def organisation(cls, org_id: uuid.UUID) -> Actor:
        return cls("organisation", str(org_id))

    @classmethod
    def operator(cls, org_id: uuid.UUID | None = None) -> Actor:
        return cls("operator", None if org_id is None else str(org_id))


SYSTEM = Actor("system")


def patient_key(patient_id: uuid.UUID, *, now: datetime) -> bytes:
    """The patient's payload key, made on their first entry."""
    query = select(AuditKey.key).where(AuditKey.patient_id == patient_id)
    key = db.session.scalar(query)
    if key is not None:
        return key
    core().execute(
        insert_or_skip(AuditKey.__table__, "patient_id").values(
            patient_id=patient_id, key=entries.new_key(), created_at=now
        )
    )
    return db.session.scalar(query)


def record(
    kind: str,
    *,
    actor: Actor,
    subjects: dict[str, Any],
    payload: dict[str, Any],
    now: datetime,
    patient_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Write one entry (and queue it for the tree); `payload` is JSON-ready and is sealed
    under the patient's key when the entry concerns a patient."""
    entry_id = uuid.uuid4()
    if patient_id is None:
        kept = entries.unsealed(payload)
    else:
        key = patient_key(patient_id, now=now)
        kept = entries.seal(key, payload, entry_id=entry_id.bytes)
    core().execute(
        insert(AuditEntry.__table__),
        [
            {
                "id": entry_id,
                "patient_id": patient_id,
                "kind": kind,
                "actor_type": actor.type,
                "actor_id": actor.id,
                "subjects": {name: str(value) for name, value in subjects.items()},
                "occurred_at": now,
                "commitment": kept.commitment,
                "payload": kept.sealed,
                "recorded_at": now,
            }
        ],
    )
    return entry_id


def operator_action(
    kind: str,
    *,
    by: uuid.UUID | None,
    subjects: dict[str, Any],
    payload: dict[str, Any],
    now: datetime,
) -> uuid.UUID:
    """Write an operator's action: by the operator organisation acting (`by`; None for the
    `consent-wallet` CLI and the demo seed, run by whoever operates the service), its payload
    kept unsealed, since it concerns no patient."""
    return record(kind, actor=Actor.operator(by), subjects=subjects, payload=payload, now=now)


def as_entry(row: AuditEntry) -> entries.Entry:
    """A stored entry as its leaf commits to it."""
    return entries.Entry(
        kind=row.kind,
        actor_type=row.actor_type,
        actor_id=row.actor_id,
        subjects=dict(row.subjects),
        occurred_at=row.occurred_at,
        payload_commitment=bytes(row.commitment),
    )
