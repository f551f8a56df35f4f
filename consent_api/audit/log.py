"""Write an audit entry in the caller's transaction (flush only, never commit): the change and
its entry land together or not at all. No sequence number is taken (the sequencer gives
leaf indexes later), so concurrent writers share no row; the entry's row in the sequencer's
queue is written by the database itself (a trigger, migration 0025)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, insert, select

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


def _known() -> dict[uuid.UUID, bytes]:
    """The patients' keys this transaction has already read (none carried over into the next
    one: a key may be destroyed by an erasure committed meanwhile)."""
    session = db.session()
    transaction = session.get_transaction()
    held = session.info.get("audit_keys")
    if held is None or held[0] is not transaction:
        held = session.info["audit_keys"] = (transaction, {})
    return held[1]


# A patient's key, for a query that reads the patient anyway (a data use's): joined there,
# the entry written later in the transaction costs no read of its own (`known_key`).
KEY = AuditKey.key.label("audit_key")


def join_key(query: Select, patient_id: Any) -> Select:
    """`query` with the patient's key (`KEY`, None before their first entry) joined in."""
    return query.add_columns(KEY).outerjoin(AuditKey, AuditKey.patient_id == patient_id)


def known_key(patient_id: uuid.UUID, key: bytes | None) -> None:
    """Keep a key read with the patient (nothing when they have none yet)."""
    if key is not None:
        _known()[patient_id] = key


def forgotten(patient_id: uuid.UUID) -> None:
    """Drop a destroyed key from what this transaction knows."""
    _known().pop(patient_id, None)


def patient_keys(patient_ids: Iterable[uuid.UUID], *, now: datetime) -> dict[uuid.UUID, bytes]:
    """The patients' payload keys, each made on its patient's first entry: no read for keys
    this transaction knows, one for the rest however many, and one more to make the missing."""
    known = _known()
    wanted = set(patient_ids)
    keys = {p: known[p] for p in wanted if p in known}
    if len(keys) < len(wanted):
        query = select(AuditKey.patient_id, AuditKey.key).where(
            AuditKey.patient_id.in_(wanted - keys.keys())
        )
        keys.update(db.session.execute(query).all())
    missing = sorted(wanted - keys.keys())  # in id order: concurrent writers never wait in a cycle
    if missing:
        made = core().execute(
            insert_or_skip(AuditKey.__table__, "patient_id")
            .values(
                [{"patient_id": p, "key": entries.new_key(), "created_at": now} for p in missing]
            )
            .returning(AuditKey.patient_id, AuditKey.key)
        )
        keys.update(made.all())
        if len(keys) < len(wanted):  # made meanwhile by a concurrent writer: read theirs
            query = select(AuditKey.patient_id, AuditKey.key).where(
                AuditKey.patient_id.in_(wanted - keys.keys())
            )
            keys.update(db.session.execute(query).all())
    known.update(keys)
    return keys


@dataclass(frozen=True)
class Record:
    """One entry to write: the ids it concerns, what it said, and its patient (none for an
    entry that concerns no patient: its payload is kept unsealed)."""

    subjects: dict[str, Any]
    payload: dict[str, Any]
    patient_id: uuid.UUID | None = None


def record_many(
    kind: str, *, actor: Actor, records: list[Record], now: datetime
) -> list[uuid.UUID]:
    """Write entries of one kind by one actor in one statement (and one read of their
    patients' keys): a batch of a thousand costs what one does."""
    if not records:
        return []
    keys = patient_keys((r.patient_id for r in records if r.patient_id is not None), now=now)
    rows = []
    for item in records:
        entry_id = uuid.uuid4()
        if item.patient_id is None:
            kept = entries.unsealed(item.payload)
        else:
            kept = entries.seal(keys[item.patient_id], item.payload, entry_id=entry_id.bytes)
        rows.append(
            {
                "id": entry_id,
                "patient_id": item.patient_id,
                "kind": kind,
                "actor_type": actor.type,
                "actor_id": actor.id,
                "subjects": {name: str(value) for name, value in item.subjects.items()},
                "occurred_at": now,
                "commitment": kept.commitment,
                "payload": kept.sealed,
                "recorded_at": now,
            }
        )
    core().execute(insert(AuditEntry.__table__), rows)
    return [row["id"] for row in rows]


def record(
    kind: str,
    *,
    actor: Actor,
    subjects: dict[str, Any],
    payload: dict[str, Any],
    now: datetime,
    patient_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Write one entry; `payload` is JSON-ready and is sealed under the patient's key when
    the entry concerns a patient."""
    (entry_id,) = record_many(
        kind, actor=actor, records=[Record(subjects, payload, patient_id)], now=now
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
