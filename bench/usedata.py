"""Request bodies for the data-use scenarios, the devices their patients push to, and the undo
of what earlier runs wrote.

Each body reports one use by the demo hospital of one patient's data under a consent that
names it (by id, or every hospital) and permits it right now: active, started, not ending
within a day, with use budget to spare; the categories, purpose and action are taken from that
consent's own scope (never a sensitive category under `all`), so most uses are permitted and
the rest are refused by an exclusion the consent carries. `occurred_at` is the placeholder
NOW, which bench/scenario.lua replaces with the current second (UTC) on every request, so the
use is never in the future and never before its consent.

Every patient sampled gets one active push device (`bench-device-<patient id>`, android or
ios), so each use writes an outbox row as it would for a patient with the app installed.

A run starts from the dataset as generated: `reset` gives back the use counts that earlier
runs' permitted uses added and empties data_uses, notifications, outbox_messages and
idempotency_keys, and any table that references them (the generator writes none of them).
The sample is reproducible (rows ordered by a hash of their id, one seeded RNG).
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg

from bench.checkdata import _write_lines
from bench.generate import demo_org
from consent_api.catalog import ALL, CATEGORIES, SENSITIVE

USES = 10_000
SEED = 11
NOW = "@NOW@"  # replaced by the current time, per request (scenario.lua) and in the probe
MAX_CATEGORIES = 3
EMERGENCY_SHARE = 0.05  # how often a consent allowing ETREAT is used for it (break-glass)
DEVICE_PREFIX = "bench-device-"
NAMESPACE = uuid.UUID("0b6a4a53-4f0e-4b8e-9a8e-6d3c1f0b5e21")
WRITTEN = ("data_uses", "outbox_messages", "notifications", "idempotency_keys")

_NON_SENSITIVE = tuple(c for c in CATEGORIES if c not in SENSITIVE)
# The tables written per use and every table whose foreign keys lead to them (e.g. a ledger
# keyed by data use): TRUNCATE refuses a referenced table unless its referrers go with it.
_REFERENCING = """
WITH RECURSIVE refs(t) AS (
    SELECT unnest(%s::regclass[])
    UNION
    SELECT c.conrelid::regclass FROM pg_constraint c JOIN refs ON c.confrelid = refs.t
    WHERE c.contype = 'f'
)
SELECT t::text FROM refs
"""


@dataclass(frozen=True)
class UseFiles:
    """One data-use body per line, and how many patients (each with a device) they name."""

    bodies: Path
    uses: int
    patients: int
    devices_added: int
    reset: dict[str, int]


def reset(connection: psycopg.Connection) -> dict[str, int]:
    """Undo earlier runs' writes: use counts back, uses, notices, pushes and keys gone."""
    restored = connection.execute(
        "UPDATE consents c SET use_count = c.use_count - d.n FROM ("
        "  SELECT (e ->> 'consent_id')::uuid AS id, count(*) AS n"
        "  FROM data_uses u, json_array_elements(u.consents) e"
        "  WHERE u.outcome = 'permitted' GROUP BY 1"
        ") d WHERE c.id = d.id"
    ).rowcount
    uses = connection.execute("SELECT count(*) FROM data_uses").fetchone()[0]
    tables = [row[0] for row in connection.execute(_REFERENCING, (list(WRITTEN),)).fetchall()]
    connection.execute("TRUNCATE " + ", ".join(tables))
    return {
        "data_uses_removed": uses,
        "consent_use_counts_restored": restored,
        "tables_emptied": sorted(tables),
    }


def _permitting(connection: psycopg.Connection, count: int) -> list[tuple]:
    """Return (patient_id, categories, purposes, actions) of consents naming the demo hospital
    that permit a use now (the check scenario's sample, narrowed to usable consents)."""
    org_id, _, org_type = demo_org(connection, "hospital")
    return connection.execute(
        "SELECT patient_id::text, data_categories, purposes, actions FROM consents "
        "WHERE (grantee_org_id = %s OR grantee_org_type = %s) AND status = 'active' "
        "AND valid_from <= now() "
        "AND (valid_until IS NULL OR valid_until > now() + interval '1 day') "
        "AND (max_uses IS NULL OR use_count + 100 < max_uses) "
        "ORDER BY md5(id::text || 'uses') LIMIT %s",
        (org_id, org_type, count),
    ).fetchall()


def use_body(rng: random.Random, row: tuple) -> dict:
    """Return one use within the consent's scope, `occurred_at` left as the NOW placeholder."""
    patient_id, categories, purposes, actions = row
    pool = _NON_SENSITIVE if ALL in categories else sorted(categories)
    chosen = rng.sample(pool, rng.randint(1, min(MAX_CATEGORIES, len(pool))))
    routine = [p for p in purposes if p != "ETREAT"]
    emergency = "ETREAT" in purposes and (not routine or rng.random() < EMERGENCY_SHARE)
    return {
        "patient_id": patient_id,
        "data_categories": chosen,
        "purpose": "ETREAT" if emergency else rng.choice(routine),
        "action": rng.choice(actions),
        "record_count": rng.randint(1, 40),
        "occurred_at": NOW,
    }


def register_devices(connection: psycopg.Connection, patients: list[str]) -> int:
    """Give each patient one active push device (idempotent); return how many were new."""
    before = connection.execute("SELECT count(*) FROM devices").fetchone()[0]
    with connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO devices (id, patient_id, token, platform, active, created_at) "
            "VALUES (%s, %s, %s, %s, true, now()) ON CONFLICT (token) DO UPDATE "
            "SET active = true, deactivated_at = NULL",
            [
                (
                    uuid.uuid5(NAMESPACE, patient),
                    patient,
                    DEVICE_PREFIX + patient,
                    "android" if int(patient[-1], 16) % 2 else "ios",
                )
                for patient in patients
            ],
        )
    return connection.execute("SELECT count(*) FROM devices").fetchone()[0] - before


def bench_devices(connection: psycopg.Connection) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Return (device id, patient id) of every active bench device, in a stable order."""
    return connection.execute(
        "SELECT id, patient_id FROM devices WHERE token LIKE %s AND active ORDER BY id",
        (DEVICE_PREFIX + "%",),
    ).fetchall()


def write(url: str, directory: Path, count: int = USES) -> UseFiles:
    """Reset earlier writes, sample the use bodies, register their devices; say where."""
    rng = random.Random(SEED)
    with psycopg.connect(url) as connection:
        undone = reset(connection)
        rows = _permitting(connection, count)
        if not rows:
            raise ValueError("the dataset has no consent permitting the demo hospital a use")
        bodies = [use_body(rng, row) for row in rows]
        patients = sorted({body["patient_id"] for body in bodies})
        added = register_devices(connection, patients)
        connection.execute("ANALYZE devices")
        connection.commit()
    rng.shuffle(bodies)
    path = directory / "uses.jsonl"
    compact = {"separators": (",", ":")}
    _write_lines(path, [json.dumps(body, **compact) for body in bodies])
    return UseFiles(path, len(bodies), len(patients), added, undone)
