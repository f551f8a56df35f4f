"""`audit-lag`: how far the signed tree heads trail the audit entries under a data-use load.

It runs on the audit database (bench/auditdata.py: the consent dataset and a 10,000,000-entry
log, put back as built first), never on `consent_bench`: gunicorn serves that database, the
`data-use` scenario's uses are sampled from it (bench/usedata.py, into var/bench/audit/), and
one real worker runs beside the load (`consent-wallet worker`, production settings, pushes
only logged), whose `sequence-audit` job integrates the queued entries and signs a tree head
every OUTBOX_POLL_SECONDS (1 s). After the measured run the bench waits until the queue is
empty, then for every entry recorded in the measured window takes the lag from its
`recorded_at` (the app's clock when the request began) to the `created_at` of the first tree
head whose `tree_size` covers its leaf index (the sequencer's clock when its run began: the
head commits a few milliseconds later).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import psycopg

from bench.auditdata import URL
from bench.push import spread_ms

READY_TIMEOUT = 30.0
SEQUENCED_TIMEOUT = 60.0
STARTUP = 5.0  # seconds a worker takes to start its jobs, when no entry shows it is up


def _queued(connection: psycopg.Connection) -> int:
    return connection.execute("SELECT count(*) FROM audit_queue").fetchone()[0]


def wait_ready(since: datetime, timeout: float = READY_TIMEOUT) -> bool:
    """Wait until the worker has signed a head over what is queued (the probe's entry):
    it is up. With nothing queued (no entry written yet) wait its start-up time."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(URL, autocommit=True) as connection:
        if not _queued(connection):
            time.sleep(STARTUP)
            return False
        while time.monotonic() < deadline:
            head = connection.execute(
                "SELECT max(created_at) FROM audit_tree_heads WHERE created_at >= %s", (since,)
            ).fetchone()[0]
            if head is not None and not _queued(connection):
                return True
            time.sleep(0.1)
    return False


def wait_sequenced(timeout: float = SEQUENCED_TIMEOUT) -> int:
    """Wait until the queue is empty; return how many entries are left in it."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(URL, autocommit=True) as connection:
        while True:
            left = _queued(connection)
            if not left or time.monotonic() > deadline:
                return left
            time.sleep(0.2)


def lag(window: tuple[float, float], base_size: int, unsequenced: int) -> dict[str, Any]:
    """The lag of every entry recorded in the measured window (those appended to the log as
    built: leaf index >= base_size) to the first head covering it."""
    start, end = (datetime.fromtimestamp(t, UTC) for t in window)
    with psycopg.connect(URL, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT e.kind, extract(epoch FROM h.created_at - e.recorded_at)::float8 "
            "FROM audit_leaves l JOIN audit_entries e ON e.id = l.entry_id "
            "CROSS JOIN LATERAL (SELECT created_at FROM audit_tree_heads "
            "WHERE tree_size > l.leaf_index ORDER BY tree_size LIMIT 1) h "
            "WHERE l.leaf_index >= %s AND e.recorded_at >= %s AND e.recorded_at < %s",
            (base_size, start, end),
        ).fetchall()
        appended = connection.execute(
            "SELECT count(*) FROM audit_leaves WHERE leaf_index >= %s", (base_size,)
        ).fetchone()[0]
        heads = connection.execute(
            "SELECT count(*), min(tree_size), max(tree_size) FROM audit_tree_heads "
            "WHERE tree_size > %s AND created_at >= %s AND created_at < %s",
            (base_size, start, end),
        ).fetchone()
        uncovered = connection.execute(
            "SELECT count(*) FROM audit_leaves WHERE leaf_index >= %s AND leaf_index >= "
            "(SELECT coalesce(max(tree_size), 0) FROM audit_tree_heads)",
            (base_size,),
        ).fetchone()[0]
    kinds: dict[str, int] = {}
    for kind, _ in rows:
        kinds[kind] = kinds.get(kind, 0) + 1
    found: dict[str, Any] = {
        "entries": len(rows),
        "appended_during_phase": appended,
        "kinds": kinds,
        "heads_in_window": heads[0],
        "entries_per_head": round(len(rows) / heads[0], 1) if heads[0] else None,
        "left_in_queue": unsequenced,
        "leaves_without_head": uncovered,
    }
    if rows:
        found.update(spread_ms([seconds for _, seconds in rows]))
    return found
