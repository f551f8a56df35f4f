"""Check the whole audit log against itself: rebuild every leaf from its entry and the tree
from those leaves, and compare with what is stored (leaves, perfect subtrees, tree heads).
The first thing that does not match is named: the entry (and its leaf), the subtree, or the
tree head. Streams the log in pages, keeping only the O(log n) subtrees still open."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, or_, select

from consent_api.audit import merkle
from consent_api.audit.log import as_entry
from consent_api.audit.models import AuditEntry, AuditLeaf, AuditNode, AuditTreeHead
from server.db import db

PAGE = 5000


@dataclass
class Report:
    """What a verification found: ok, or the first mismatch."""

    ok: bool = True
    tree_size: int = 0
    heads_checked: int = 0
    problem: dict[str, Any] | None = field(default=None)

    def fail(self, **problem: Any) -> Report:
        self.ok, self.problem = False, problem
        return self

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "tree_size": self.tree_size,
            "heads_checked": self.heads_checked,
            "problem": self.problem,
        }


class _Frontier:
    """The perfect subtrees not yet closed into a bigger one, one per height at most."""

    def __init__(self) -> None:
        self.open: list[tuple[int, bytes]] = []  # (height, hash), highest first

    def push(self, leaf: bytes, index: int) -> list[tuple[int, int, bytes]]:
        """Add leaf `index`; return the subtrees (height, position, hash) it completed."""
        self.open.append((0, leaf))
        done = []
        while len(self.open) > 1 and self.open[-1][0] == self.open[-2][0]:
            (height, right), (_, left) = self.open.pop(), self.open.pop()
            merged = (height + 1, merkle.node_hash(left, right))
            self.open.append(merged)
            done.append((height + 1, index >> (height + 1), merged[1]))
        return done

    def root(self) -> bytes:
        """The root of the leaves pushed so far."""
        if not self.open:
            return merkle.EMPTY_ROOT
        digest = self.open[-1][1]
        for _, left in reversed(self.open[:-1]):
            digest = merkle.node_hash(left, digest)
        return digest


def completed_ranges(start: int, end: int) -> list[tuple[int, int, int]]:
    """(height, first, last position) of the perfect subtrees (height >= 1) whose last leaf is
    in [start, end): at height h, the positions p with start < (p + 1) * 2^h <= end."""
    ranges, height = [], 1
    while (1 << height) <= end:
        first, last = start >> height, (end >> height) - 1
        if first <= last:
            ranges.append((height, first, last))
        height += 1
    return ranges


def _nodes_completed(start: int, end: int) -> dict[tuple[int, int], bytes]:
    """The stored subtrees the leaves [start, end) complete: a range of the primary key per
    height, so a page reads its own nodes only (a condition on an expression of the key read
    every node of the tree, for every page)."""
    ranges = completed_ranges(start, end)
    if not ranges:
        return {}
    return {
        (height, position): bytes(digest)
        for height, position, digest in db.session.execute(
            select(AuditNode.height, AuditNode.position, AuditNode.hash).where(
                or_(
                    *(
                        and_(AuditNode.height == height, AuditNode.position.between(first, last))
                        for height, first, last in ranges
                    )
                )
            )
        )
    }


def verify(*, page: int = PAGE) -> Report:
    """Check every leaf, subtree and tree head; stop at the first that does not match."""
    report = Report()
    heads = {
        size: bytes(root)
        for size, root in db.session.execute(select(AuditTreeHead.tree_size, AuditTreeHead.root))
    }
    frontier, index = _Frontier(), 0
    while True:
        rows = db.session.execute(
            select(AuditLeaf.leaf_index, AuditLeaf.hash, AuditEntry)
            .outerjoin(AuditEntry, AuditEntry.id == AuditLeaf.entry_id)
            .where(AuditLeaf.leaf_index >= index)
            .order_by(AuditLeaf.leaf_index)
            .limit(page)
        ).all()
        if not rows:
            break
        stored_nodes = _nodes_completed(index, index + len(rows))
        for leaf_index, stored, entry in rows:
            if leaf_index != index:
                return report.fail(leaf_index=index, what="leaf missing from the tree")
            if entry is None:
                return report.fail(leaf_index=index, what="leaf without its entry")
            computed = as_entry(entry).leaf_hash()
            if computed != bytes(stored):
                return report.fail(
                    leaf_index=index,
                    entry_id=str(entry.id),
                    what="entry does not hash to its leaf",
                )
            for height, position, digest in frontier.push(computed, index):
                if stored_nodes.get((height, position)) != digest:
                    return report.fail(
                        leaf_index=index,
                        height=height,
                        position=position,
                        what="stored subtree does not match its leaves",
                    )
            index += 1
            if index in heads:
                if heads[index] != frontier.root():
                    return report.fail(tree_size=index, what="tree head's root does not match")
                report.heads_checked += 1
    report.tree_size = index
    if any(size > index for size in heads):
        return report.fail(tree_size=max(heads), what="tree head larger than the tree")
    return report
