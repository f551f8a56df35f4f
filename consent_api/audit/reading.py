"""What a patient reads of the audit log (their entries, opened with their key, and each
one's inclusion proof), and what anyone reads of it (the latest signed checkpoint, and the
proof that an older one is its prefix). Services read; nothing here writes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from consent_api.audit import entries, proofs
from consent_api.audit.models import AuditEntry, AuditKey, AuditLeaf, AuditTreeHead
from server import pagination
from server.db import db
from server.errors import NotFound, ValidationFailed


@dataclass(frozen=True)
class Shown:
    """An entry as its patient reads it: the payload opened (None once erased), with the
    salt of its commitment (the export carries it, to check the payload against the leaf)."""

    entry: AuditEntry
    payload: dict[str, Any] | None
    leaf_index: int | None
    salt: bytes | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.entry, name)


def _opened(rows: list[AuditEntry], patient_id: uuid.UUID) -> list[Shown]:
    key = db.session.scalar(select(AuditKey.key).where(AuditKey.patient_id == patient_id))
    leaves = _leaf_indexes(rows)
    shown = []
    for row in rows:
        opened = None
        if key is not None:
            try:
                opened = entries.open_sealed(key, row.payload, entry_id=row.id.bytes)
            except entries.Unreadable:  # sealed under another key: shown unread, not a 500
                opened = None
        shown.append(
            Shown(
                row,
                opened and opened.payload,
                leaves.get(row.id),
                opened and opened.salt,
            )
        )
    return shown


@dataclass(frozen=True)
class Exported:
    """The patient's whole log, each entry proved against one checkpoint."""

    checkpoint: AuditTreeHead | None
    entries: list[tuple[Shown, proofs.Inclusion | None]]


def export_for_patient(patient_id: uuid.UUID) -> Exported:
    """Every entry of the patient, oldest first, with its inclusion proof in the latest
    checkpoint (None for one not sequenced yet)."""
    rows = list(
        db.session.scalars(
            select(AuditEntry)
            .where(AuditEntry.patient_id == patient_id)
            .order_by(AuditEntry.recorded_at, AuditEntry.id)
        )
    )
    head = proofs.latest_head()
    proved = []
    for shown in _opened(rows, patient_id):
        inclusion = None
        if head is not None and shown.leaf_index is not None and shown.leaf_index < head.tree_size:
            inclusion = proofs.inclusion(shown.entry.id, size=head.tree_size)
        proved.append((shown, inclusion))
    return Exported(head, proved)


def for_patient(patient_id: uuid.UUID, query: dict[str, Any]) -> pagination.Page:
    """The patient's entries, newest first, a page at a time."""
    page = pagination.fetch(
        select(AuditEntry).where(AuditEntry.patient_id == patient_id),
        order_column=AuditEntry.recorded_at,
        id_column=AuditEntry.id,
        query=query,
        descending=True,
    )
    return pagination.Page(_opened(list(page.items), patient_id), page.next_cursor)


def _leaf_indexes(rows: list[AuditEntry]) -> dict[uuid.UUID, int]:
    return dict(
        db.session.execute(
            select(AuditLeaf.entry_id, AuditLeaf.leaf_index).where(
                AuditLeaf.entry_id.in_([row.id for row in rows])
            )
        ).all()
    )


def for_operator(query: dict[str, Any]) -> pagination.Page:
    """Every entry, newest first, filtered by kind, patient, actor and time; never a payload
    (the operator reads what happened, not what a patient's consent said)."""
    statement = select(AuditEntry)
    for name, column in (
        ("kind", AuditEntry.kind),
        ("patient_id", AuditEntry.patient_id),
        ("actor_type", AuditEntry.actor_type),
    ):
        if name in query:
            statement = statement.where(column == query[name])
    if "since" in query:
        statement = statement.where(AuditEntry.recorded_at >= query["since"])
    if "until" in query:
        statement = statement.where(AuditEntry.recorded_at < query["until"])
    page = pagination.fetch(
        statement,
        order_column=AuditEntry.recorded_at,
        id_column=AuditEntry.id,
        query=query,
        descending=True,
    )
    rows = list(page.items)
    indexes = _leaf_indexes(rows)
    return pagination.Page(
        [Shown(row, None, indexes.get(row.id)) for row in rows], page.next_cursor
    )


@dataclass(frozen=True)
class ProofOfEntry:
    """An entry's inclusion proof, and the signed checkpoint it proves against."""

    entry_id: uuid.UUID
    inclusion: proofs.Inclusion
    checkpoint: AuditTreeHead


def proof_for_patient(patient_id: uuid.UUID, entry_id: uuid.UUID) -> ProofOfEntry:
    """The inclusion proof of one of the patient's entries in the latest checkpoint (404
    for another's entry, as for a missing one, and for one not in the tree yet)."""
    owned = db.session.scalar(
        select(AuditEntry.id).where(AuditEntry.id == entry_id, AuditEntry.patient_id == patient_id)
    )
    if owned is None:
        raise NotFound("No audit entry of yours with this id.")
    inclusion = proofs.inclusion(entry_id)
    return ProofOfEntry(entry_id, inclusion, proofs.head(inclusion.tree_size))


@dataclass(frozen=True)
class Checkpoint:
    """The latest checkpoint, and the proof that an older size is its prefix, if asked."""

    head: AuditTreeHead
    from_size: int | None
    consistency: list[bytes] | None


def latest(from_size: int | None) -> Checkpoint:
    """The latest signed checkpoint; with `from_size`, the consistency proof from the
    checkpoint of that size (one the app kept) to it."""
    head = proofs.latest_head()
    if head is None:
        raise NotFound("The audit log has no checkpoint yet.")
    if from_size is None:
        return Checkpoint(head, None, None)
    if from_size > head.tree_size:
        raise ValidationFailed(
            errors={"from_size": [f"Must be at most the latest size, {head.tree_size}."]}
        )
    if db.session.get(AuditTreeHead, from_size) is None:
        raise NotFound("No checkpoint of this size.")
    return Checkpoint(head, from_size, proofs.consistency(from_size, head.tree_size))
