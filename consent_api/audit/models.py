"""The audit log's tables. Entries, leaves and nodes are append-only (triggers refuse UPDATE
and DELETE, as the ledger's do); the queue and the patients' keys are not.

- `audit_entries`: what each entry commits to, its payload sealed (entries.py); written in
  the transaction of the change it records, with no sequence number, so no hot row.
- `audit_queue`: the entries not in the tree yet, in the same transaction; the sequencer
  (sequencer.py, one at a time) takes them in order, gives each the next leaf index, and
  removes them here.
- `audit_leaves` and `audit_nodes`: the tree, as the hash of every leaf and of every perfect
  subtree (height >= 1) once complete: a proof reads O(log n) of them.
- `audit_tree_heads`: the tree's size and root after each sequencing run.
- `audit_keys`: each patient's payload key; erasure deletes it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db import db


class AuditEntry(db.Model):
    """One entry of the log (see entries.Entry for what its leaf commits to)."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_patient_occurred", "patient_id", "occurred_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    patient_id: Mapped[uuid.UUID | None]  # the patient it concerns, if any (their key seals it)
    kind: Mapped[str] = mapped_column(String(60))
    actor_type: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[str | None] = mapped_column(String(64))
    subjects: Mapped[dict[str, Any]] = mapped_column(JSON)
    occurred_at: Mapped[datetime]
    commitment: Mapped[bytes] = mapped_column(LargeBinary(32))
    # The payload and its salt: sealed under the patient's key when the entry concerns a
    # patient (entries.seal), as they are otherwise (operator and system entries).
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    recorded_at: Mapped[datetime]


class AuditQueue(db.Model):
    """An entry waiting for its leaf index."""

    __tablename__ = "audit_queue"
    __table_args__ = (Index("ix_audit_queue_recorded", "recorded_at", "entry_id"),)

    entry_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    recorded_at: Mapped[datetime]


class AuditLeaf(db.Model):
    """An entry's place in the tree, and its leaf hash."""

    __tablename__ = "audit_leaves"

    leaf_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    entry_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditNode(db.Model):
    """The hash of the perfect subtree of 2^height leaves at position `position`."""

    __tablename__ = "audit_nodes"

    height: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    position: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditTreeHead(db.Model):
    """The tree's root at one size, as the sequencer left it."""

    __tablename__ = "audit_tree_heads"

    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime]
    # The checkpoint: {origin, tree_size, root, timestamp} signed (checkpoints.py).
    signed: Mapped[str | None] = mapped_column(Text)


class AuditKey(db.Model):
    """A patient's payload key. Erasure destroys it (NULL, `destroyed_at` set): their
    payloads cannot be read, and the row left behind keeps any later entry from making
    them a key again."""

    __tablename__ = "audit_keys"

    patient_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    key: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime]
    destroyed_at: Mapped[datetime | None]
