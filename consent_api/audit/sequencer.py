"""The sequencer: give queued entries their leaf indexes, in the order they were recorded,
hash them into the tree, and write the new tree head, signed (checkpoints.py). One at a
time (an advisory lock on PostgreSQL), run by the worker every second or so; flush only,
the job commits.

Each batch stores the new leaves, every perfect subtree the batch completes (reading the
left halves from earlier batches it needs, O(log n) of them), and the tree head: a proof
later reads only stored hashes, never the entries (store.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, insert, select

from consent_api.audit import checkpoints, merkle
from consent_api.audit.log import as_entry
from consent_api.audit.models import AuditEntry, AuditLeaf, AuditNode, AuditQueue, AuditTreeHead
from consent_api.audit.store import StoredTree
from server.db import core, db, only_runner

LOCK_KEY = 0x6175646974  # any constant of our own: "audit" in ASCII


def tree_size() -> int:
    """How many leaves the tree has."""
    return db.session.scalar(select(func.coalesce(func.max(AuditLeaf.leaf_index) + 1, 0)))


def _completed(index: int) -> list[tuple[int, int]]:
    """The perfect subtrees (height >= 1) that leaf `index` completes, lowest first."""
    done, height = [], 1
    while (index + 1) % (1 << height) == 0:
        done.append((height, index >> height))
        height += 1
    return done


def sequence(*, now: datetime, batch: int = 1000) -> int:
    """Integrate up to `batch` queued entries; returns how many."""
    if not only_runner(LOCK_KEY):
        return 0
    rows = db.session.scalars(
        select(AuditEntry)
        .join(AuditQueue, AuditQueue.entry_id == AuditEntry.id)
        .order_by(AuditQueue.recorded_at, AuditQueue.entry_id)
        .limit(batch)
    ).all()
    if not rows:
        return 0
    start = tree_size()
    tree = StoredTree()
    leaves = []
    for offset, row in enumerate(rows):
        index = start + offset
        digest = as_entry(row).leaf_hash()
        tree.known[(0, index)] = digest
        leaves.append({"leaf_index": index, "entry_id": row.id, "hash": digest})
    new_nodes = [key for index in range(start, start + len(rows)) for key in _completed(index)]
    # Left halves completed by earlier batches are read; everything newer is in memory.
    children = (
        (height - 1, 2 * position + side) for height, position in new_nodes for side in (0, 1)
    )
    tree.load((h, p) for h, p in children if (p + 1) << h <= start)
    nodes = []
    for height, position in new_nodes:
        digest = merkle.node_hash(
            tree.perfect(height - 1, 2 * position), tree.perfect(height - 1, 2 * position + 1)
        )
        tree.known[(height, position)] = digest
        nodes.append({"height": height, "position": position, "hash": digest})
    size = start + len(rows)
    core().execute(insert(AuditLeaf.__table__), leaves)
    if nodes:
        core().execute(insert(AuditNode.__table__), nodes)
    core().execute(
        delete(AuditQueue.__table__).where(AuditQueue.entry_id.in_([row.id for row in rows]))
    )
    root = tree.run(lambda p: merkle.root(p, size))
    core().execute(
        insert(AuditTreeHead.__table__),
        [
            {
                "tree_size": size,
                "root": root,
                "created_at": now,
                "signed": checkpoints.sign(size, root, now),
            }
        ],
    )
    return len(rows)
