"""Proofs from the stored tree: an entry's inclusion in a tree head, and the consistency of
two tree heads. Each reads O(log n) stored hashes in two queries."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select

from consent_api.audit import merkle
from consent_api.audit.models import AuditLeaf, AuditTreeHead
from consent_api.audit.store import StoredTree
from server.db import db
from server.errors import NotFound


@dataclass(frozen=True)
class Inclusion:
    """Where an entry is in a tree head, and the path that proves it."""

    leaf_index: int
    leaf_hash: bytes
    tree_size: int
    root: bytes
    path: list[bytes]


def latest_head() -> AuditTreeHead | None:
    """The newest tree head, if the tree has any leaf."""
    return db.session.scalars(
        select(AuditTreeHead).order_by(AuditTreeHead.tree_size.desc()).limit(1)
    ).first()


def head(size: int) -> AuditTreeHead:
    """The tree head of this size (404 if none was made at it)."""
    found = db.session.get(AuditTreeHead, size)
    if found is None:
        raise NotFound("No tree head of this size.")
    return found


def inclusion(entry_id: uuid.UUID, *, size: int | None = None) -> Inclusion:
    """The proof of an entry in the tree head of `size` (the latest if None): the leaf and
    its head in one query, the path's hashes in one more."""
    if size is None:
        newest = select(func.max(AuditTreeHead.tree_size)).scalar_subquery()
        found = db.session.execute(
            select(AuditLeaf, AuditTreeHead)
            .join(AuditTreeHead, AuditTreeHead.tree_size == newest)
            .where(AuditLeaf.entry_id == entry_id)
        ).first()
        leaf, chosen = found if found is not None else (None, None)
    else:
        chosen = head(size)
        leaf = db.session.scalar(select(AuditLeaf).where(AuditLeaf.entry_id == entry_id))
    if leaf is None or chosen is None or leaf.leaf_index >= chosen.tree_size:
        raise NotFound("This entry is not in the tree yet.")
    path = StoredTree().run(lambda p: merkle.inclusion_proof(p, leaf.leaf_index, chosen.tree_size))
    return Inclusion(leaf.leaf_index, bytes(leaf.hash), chosen.tree_size, bytes(chosen.root), path)


def consistency(first: int, second: int) -> list[bytes]:
    """The proof that tree head `first` is a prefix of tree head `second`."""
    head(first), head(second)
    return StoredTree().run(lambda p: merkle.consistency_proof(p, first, second))
