"""The tree as stored: leaf hashes (height 0) and perfect subtree hashes (height >= 1), read
in one query for whatever a proof or a root needs (the keys are known before the hashes:
which subtrees RFC 9162's algorithms visit depends on sizes only)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from sqlalchemy import Integer, literal, select, tuple_, union_all

from consent_api.audit import merkle
from consent_api.audit.models import AuditLeaf, AuditNode
from server.db import db

T = TypeVar("T")
_ZERO = bytes(32)


class StoredTree:
    """Perfect subtree hashes read from the database, and any known already (new ones)."""

    def __init__(self) -> None:
        self.known: dict[tuple[int, int], bytes] = {}

    def perfect(self, height: int, position: int) -> bytes:
        try:
            return self.known[(height, position)]
        except KeyError:
            raise merkle.ProofError(f"no subtree {position} at height {height}") from None

    def load(self, keys: Iterable[tuple[int, int]]) -> None:
        """Read the hashes of these subtrees not known yet, leaves and nodes in one query."""
        wanted = {key for key in keys if key not in self.known}
        leaves = [position for height, position in wanted if height == 0]
        nodes = [key for key in wanted if key[0] > 0]
        parts = []
        if leaves:
            parts.append(
                select(literal(0, Integer), AuditLeaf.leaf_index, AuditLeaf.hash).where(
                    AuditLeaf.leaf_index.in_(leaves)
                )
            )
        if nodes:
            parts.append(
                select(AuditNode.height, AuditNode.position, AuditNode.hash).where(
                    tuple_(AuditNode.height, AuditNode.position).in_(nodes)
                )
            )
        if not parts:
            return
        query = parts[0] if len(parts) == 1 else union_all(*parts)
        for height, position, digest in db.session.execute(query):
            self.known[(height, position)] = bytes(digest)

    def run(self, work: Callable[[merkle.Hashes], T]) -> T:
        """Run `work` (a root, a proof) over this tree: once to learn which subtrees it
        reads, then, with those loaded, for real."""
        visited: set[tuple[int, int]] = set()

        def record(height: int, position: int) -> bytes:
            visited.add((height, position))
            return _ZERO

        work(record)
        self.load(visited)
        return work(self.perfect)
