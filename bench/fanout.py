"""Study invitations: one real worker fanning out an approved study's invitations.

The worker is `consent-wallet worker` as production runs it (APP_ENV=production, pushes only
logged), with the fan-out unbounded for the measurement (STUDY_INVITATIONS_PER_SECOND and
STUDY_INVITATIONS_PER_PLACE far above what the dataset holds, STUDY_FANOUT_SECONDS=1). The
study is inserted approved for one of the dataset's research organisations, asking for the
one data category the most opted-in patients accept from research organisations, so that the
run files tens of thousands of invitations (a consent request, an inbox notice and, for the
patients with a device, a push row each), batch after batch, each batch committed.

The rate is the invitations committed over the time from the first committed batch to the
last (a poll every POLL seconds of the study's count), so the worker's start-up is left out;
the time from starting the worker to the last is reported too. Afterwards the caps are
checked (nobody invited more than their `max_invitations_per_month`, nobody twice), and the
invitations, their notices and pushes are deleted again. Every invitation in the dataset is
deleted first and the other approved studies (the demo's) are held back for the
measurement: their invitations would take patients' caps.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from bench.push import _alive, cpu_seconds, worker
from bench.settings import BenchError
from consent_api.research import codes

POLL = 0.1
TIMEOUT = 300.0
TITLE = "Bench fan-out study"
UNBOUNDED = {
    "STUDY_FANOUT_SECONDS": "1",
    "STUDY_INVITATIONS_PER_SECOND": "10000000",
    "STUDY_INVITATIONS_PER_PLACE": "10000000",
}


def _bit(code: str, positions: tuple[str, ...]) -> int:
    return 1 << positions.index(code)


def _forget(connection: psycopg.Connection) -> int:
    """Delete every invitation in the dataset (the demo's among them: they would hold
    patients' caps), what told patients of them, and earlier runs' bench studies."""
    connection.execute(
        "DELETE FROM outbox_messages WHERE notification_id IN (SELECT id FROM notifications "
        "WHERE data->>'study_id' IS NOT NULL)"
    )
    connection.execute("DELETE FROM notifications WHERE data->>'study_id' IS NOT NULL")
    removed = connection.execute("DELETE FROM consent_requests WHERE study_id IS NOT NULL").rowcount
    connection.execute("DELETE FROM studies WHERE title = %s", (TITLE,))
    return removed


def _pause_others(connection: psycopg.Connection) -> list[uuid.UUID]:
    """Take the other approved studies (the demo's) out of the fan-out for the measurement,
    as submitted again; `_resume` puts them back."""
    return [
        row[0]
        for row in connection.execute(
            "UPDATE studies SET status = 'submitted' WHERE status = 'approved' RETURNING id"
        )
    ]


def _resume(connection: psycopg.Connection, paused: list[uuid.UUID]) -> None:
    connection.execute("UPDATE studies SET status = 'approved' WHERE id = ANY(%s)", (paused,))


def _sponsor(connection: psycopg.Connection) -> tuple[uuid.UUID, str]:
    row = connection.execute(
        "SELECT id, name FROM organisations WHERE type = 'research' AND status = 'active' "
        "ORDER BY name LIMIT 1"
    ).fetchone()
    if row is None:
        raise BenchError("the dataset has no research organisation to sponsor the study")
    return row


def _widest_category(connection: psycopg.Connection) -> tuple[str, int]:
    """The data category the most opted-in patients accept for health research from research
    organisations, and how many (each with room under their cap: nobody is invited yet)."""
    purpose, org_type = _bit("HRESCH", codes.PURPOSES), _bit("research", codes.ORG_TYPES)
    best = ("", 0)
    for category in codes.DATA_CATEGORIES:
        bit = _bit(category, codes.DATA_CATEGORIES)
        count = connection.execute(
            "SELECT count(*) FROM research_preferences WHERE opted_in "
            "AND purposes_mask & %s = %s AND categories_mask & %s = %s "
            "AND org_types_mask & %s = %s",
            (purpose, purpose, bit, bit, org_type, org_type),
        ).fetchone()[0]
        if count > best[1]:
            best = (category, count)
    return best


def _study(connection: psycopg.Connection, sponsor: uuid.UUID, category: str) -> uuid.UUID:
    now = datetime.now(UTC)
    study_id = uuid.uuid4()
    connection.execute(
        "INSERT INTO studies (id, org_id, title, description, purpose, data_categories, "
        "actions, fee_per_use, ethics_reference, starts_on, ends_on, recruitment_target, "
        "status, review_reason, reviewed_at, created_at, updated_at) VALUES (%s, %s, %s, %s, "
        "'HRESCH', %s, '[\"use\"]', 10, 'EC-BENCH-1', %s, %s, 1000000, 'approved', NULL, %s, "
        "%s, %s)",
        (
            study_id,
            sponsor,
            TITLE,
            "How routine results change over the years, measured for the bench.",
            f'["{category}"]',
            (now - timedelta(days=1)).date(),
            (now + timedelta(days=365)).date(),
            now,
            now,
            now,
        ),
    )
    return study_id


def _count(connection: psycopg.Connection, study_id: uuid.UUID) -> int:
    return connection.execute(
        "SELECT count(*) FROM consent_requests WHERE study_id = %s", (study_id,)
    ).fetchone()[0]


def _over_cap(connection: psycopg.Connection) -> int:
    """Patients with more invitations in the last 30 days than their cap allows."""
    return connection.execute(
        "SELECT count(*) FROM (SELECT r.patient_id FROM consent_requests r "
        "JOIN research_preferences p ON p.patient_id = r.patient_id "
        "WHERE r.study_id IS NOT NULL AND r.created_at > now() - interval '30 days' "
        "GROUP BY r.patient_id, p.max_invitations_per_month "
        "HAVING count(*) > p.max_invitations_per_month) AS over"
    ).fetchone()[0]


def measure(database_url: str, pg_url: str) -> dict[str, Any]:
    """Insert an approved study, run one worker until it has invited every patient who
    accepts it, and return the rate; the invitations are deleted again afterwards."""
    with psycopg.connect(pg_url, autocommit=True) as connection:
        _forget(connection)
        paused = _pause_others(connection)
        sponsor, sponsor_name = _sponsor(connection)
        category, expected = _widest_category(connection)
        study_id = _study(connection, sponsor, category)
        found: dict[str, Any] = {
            "sponsor": sponsor_name,
            "data_category": category,
            "expected": expected,
        }
        samples: list[tuple[float, int]] = []
        try:
            spawned = time.monotonic()
            with worker(database_url, None, extra=UNBOUNDED) as process:
                deadline = spawned + TIMEOUT
                invited = 0
                while invited < expected and time.monotonic() < deadline:
                    _alive(process)
                    time.sleep(POLL)
                    invited = _count(connection, study_id)
                    samples.append((time.monotonic(), invited))
                worker_cpu = cpu_seconds(process.pid)
            found["over_cap"] = _over_cap(connection)
        finally:
            found["deleted"] = _forget(connection)
            _resume(connection, paused)
    started = next(((t, n) for t, n in samples if n > 0), None)
    if started is None:
        found["problem"] = f"no invitation within {TIMEOUT:.0f}s"
        return found
    last_t, last_n = samples[-1]
    window = last_t - started[0]
    found.update(
        invited=last_n,
        first_batch=started[1],
        start_to_first_s=round(started[0] - spawned, 2),
        first_to_last_s=round(window, 2),
        start_to_last_s=round(last_t - spawned, 2),
        invitations_per_s=round((last_n - started[1]) / window, 1) if window > 0 else None,
        worker_cpu_s=None if worker_cpu is None else round(worker_cpu, 1),
    )
    if last_n < expected:
        found["problem"] = f"only {last_n:,} of {expected:,} invited within {TIMEOUT:.0f}s"
    if found["over_cap"]:
        found["problem"] = f"{found['over_cap']} patients invited over their cap"
    return found
