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

The paid scenario (`data-use-paid`) sends the same uses from `uses-paid.jsonl`: a routine
purpose wherever the consent has one (so no 201 is a break-glass access that relies on no
consent, and so pays nothing), and every other body naming a data holder (another hospital).
While it runs, `set_fees` gives every consent of the sampled patients that names the demo
hospital (by id or type) a fee per use, keeping the original fees in `bench_paid_consents`
(a bench-only table) to restore afterwards, or in the next run's reset if a run died.

A run starts from the dataset as generated: `reset` puts back any fee the paid scenario
changed, gives back the use counts that earlier runs' permitted uses added and empties
data_uses, notifications, outbox_messages, idempotency_keys and the ledger's accounts, and
every table that references them (the ledger's transactions, entries, lots and redemptions;
the generator writes none of them). TRUNCATE is not refused by the ledger's append-only
triggers (they are row triggers on UPDATE and DELETE), so the reset needs no trigger bypass.
The sample is reproducible (rows ordered by a hash of their id, one seeded RNG).
"""

from __future__ import annotations

import json
import os
import random
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg

from bench.checkdata import _write_lines
from bench.generate import NAMESPACE as GENERATED_ORGS
from bench.generate import demo_org, hospital_refs
from consent_api.catalog import ALL, CATEGORIES, SENSITIVE

USES = 10_000
SEED = 11
NOW = "@NOW@"  # replaced by the current time, per request (scenario.lua) and in the probe
MAX_CATEGORIES = 3
EMERGENCY_SHARE = 0.05  # how often a consent allowing ETREAT is used for it (break-glass)
DEVICE_PREFIX = "bench-device-"
NAMESPACE = uuid.UUID("0b6a4a53-4f0e-4b8e-9a8e-6d3c1f0b5e21")
# Written per use (a paid use also posts to the ledger: accounts, and through the references
# below its transaction, entries and lot).
WRITTEN = (
    "data_uses",
    "outbox_messages",
    "notifications",
    "idempotency_keys",
    "ledger_accounts",
    # the audit log: entries (and their queue), the tree over them, patients' keys
    "audit_entries",
    "audit_queue",
    "audit_leaves",
    "audit_nodes",
    "audit_tree_heads",
    "audit_keys",
)
PAID_FEE = 100  # points per use of each consent relied on, while data-use-paid runs
HOLDER = "Riverside University Hospital"  # the data holder every other paid use names
FEES_KEPT = "bench_paid_consents"  # the original fees of the consents made paid (SQL below)

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
    paid_bodies: Path | None = None
    holder_org_id: str | None = None


def restore_fees(connection: psycopg.Connection) -> int:
    """Put back the fees `set_fees` changed (also after a run that died); return how many."""
    if connection.execute("SELECT to_regclass(%s)", (FEES_KEPT,)).fetchone()[0] is None:
        return 0
    restored = connection.execute(
        "UPDATE consents c SET fee_per_use = k.fee_per_use FROM bench_paid_consents k "
        "WHERE c.id = k.consent_id"
    ).rowcount
    connection.execute("DELETE FROM bench_paid_consents")
    return restored


def set_fees(connection: psycopg.Connection, patients: list[str], fee: int = PAID_FEE) -> int:
    """Give every unpaid consent of these patients naming the demo hospital (by id or type)
    `fee` points per use, keeping the original fees; return how many consents."""
    org_id, _, org_type = demo_org(connection, "hospital")
    connection.execute(
        "CREATE TABLE IF NOT EXISTS bench_paid_consents "
        "(consent_id uuid PRIMARY KEY, fee_per_use integer NOT NULL)"
    )
    connection.execute(
        "INSERT INTO bench_paid_consents (consent_id, fee_per_use) "
        "SELECT id, fee_per_use FROM consents WHERE patient_id = ANY(%s::uuid[]) "
        "AND (grantee_org_id = %s OR grantee_org_type = %s) AND fee_per_use = 0 "
        "ON CONFLICT (consent_id) DO NOTHING",
        (patients, org_id, org_type),
    )
    return connection.execute(
        "UPDATE consents c SET fee_per_use = %s FROM bench_paid_consents k "
        "WHERE c.id = k.consent_id",
        (fee,),
    ).rowcount


def reset(connection: psycopg.Connection, keep: tuple[str, ...] = ()) -> dict[str, int]:
    """Undo earlier runs' writes: fees and use counts back; uses, notices, pushes, keys, the
    ledger and the audit log gone (TRUNCATE: the log's triggers refuse only UPDATE and
    DELETE), but the tables in `keep` (the `audit-lag` phase keeps its generated log and
    takes back what a run appended itself, bench/auditscale.py)."""
    fees = restore_fees(connection)
    restored = connection.execute(
        "UPDATE consents c SET use_count = c.use_count - d.n FROM ("
        "  SELECT (e ->> 'consent_id')::uuid AS id, count(*) AS n"
        "  FROM data_uses u, json_array_elements(u.consents) e"
        "  WHERE u.outcome = 'permitted' GROUP BY 1"
        ") d WHERE c.id = d.id"
    ).rowcount
    uses = connection.execute("SELECT count(*) FROM data_uses").fetchone()[0]
    tables = [
        row[0]
        for row in connection.execute(_REFERENCING, (list(WRITTEN),)).fetchall()
        if row[0] not in keep
    ]
    connection.execute("TRUNCATE " + ", ".join(tables))
    return {
        "data_uses_removed": uses,
        "consent_use_counts_restored": restored,
        "consent_fees_restored": fees,
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


def use_body(rng: random.Random, row: tuple, *, emergency_share: float = EMERGENCY_SHARE) -> dict:
    """Return one use within the consent's scope, `occurred_at` left as the NOW placeholder."""
    patient_ref, categories, purposes, actions = row[:4]
    pool = _NON_SENSITIVE if ALL in categories else sorted(categories)
    chosen = rng.sample(pool, rng.randint(1, min(MAX_CATEGORIES, len(pool))))
    routine = [p for p in purposes if p != "ETREAT"]
    emergency = "ETREAT" in purposes and (not routine or rng.random() < emergency_share)
    return {
        "patient_ref": patient_ref,
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


def give_audit_keys(connection: psycopg.Connection, patients: list[str]) -> None:
    """Give each patient the audit key granting their first consent would have made (the
    generator writes consents without their audit entries), so a use writes its entry as
    it would for a patient of the service, not as for one seen the first time."""
    with connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO audit_keys (patient_id, key, created_at) VALUES (%s, %s, now()) "
            "ON CONFLICT (patient_id) DO NOTHING",
            [(patient, os.urandom(32)) for patient in patients],
        )


def bench_devices(connection: psycopg.Connection) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Return (device id, patient id) of every active bench device, in a stable order."""
    return connection.execute(
        "SELECT id, patient_id FROM devices WHERE token LIKE %s AND active ORDER BY id",
        (DEVICE_PREFIX + "%",),
    ).fetchall()


def holder_org(connection: psycopg.Connection) -> str:
    """Return the id of the data holder the paid uses name: another hospital of the dataset
    (the demo pharma if the generated organisations are missing)."""
    holder = str(uuid.uuid5(GENERATED_ORGS, HOLDER))
    if connection.execute("SELECT 1 FROM organisations WHERE id = %s", (holder,)).fetchone():
        return holder
    return str(demo_org(connection, "pharma")[0])


def paid_bodies(rows: list[tuple], holder_org_id: str) -> list[dict]:
    """Return the paid scenario's bodies: the same consents, a routine purpose wherever the
    consent has one, and every other body naming the data holder."""
    rng = random.Random(SEED + 1)
    bodies = [use_body(rng, row, emergency_share=0.0) for row in rows]
    for number, body in enumerate(bodies):
        if number % 2:
            body["holder_org_id"] = holder_org_id
    rng.shuffle(bodies)
    return bodies


def write(url: str, directory: Path, count: int = USES, *, keep: tuple[str, ...] = ()) -> UseFiles:
    """Reset earlier writes (but the tables in `keep`), sample the use bodies, register their
    devices; say where."""
    rng = random.Random(SEED)
    with psycopg.connect(url) as connection:
        undone = reset(connection, keep)
        rows = _permitting(connection, count)
        if not rows:
            raise ValueError("the dataset has no consent permitting the demo hospital a use")
        patients = sorted({row[0] for row in rows})
        added = register_devices(connection, patients)
        give_audit_keys(connection, patients)
        # The hospital names each patient by the reference it knows them by.
        named = hospital_refs(connection, [row[0] for row in rows])
        rows = [(ref, *row[1:]) for ref, row in zip(named, rows, strict=True)]
        bodies = [use_body(rng, row) for row in rows]
        connection.execute("ANALYZE devices")
        holder = holder_org(connection)
        connection.commit()
    with psycopg.connect(url, autocommit=True) as connection:
        # The reset rewrote consent rows (use counts, fees), which clears their pages from
        # the visibility map: the consent check's index-only scan then reads the heap for
        # every row (measured: a 1,000-patient candidate read went from 43 to 123 ms).
        # Autovacuum would repair it in time; the bench must not measure that window.
        connection.execute("VACUUM (ANALYZE) consents")
    paid = paid_bodies(rows, holder)
    rng.shuffle(bodies)
    path = directory / "uses.jsonl"
    paid_path = directory / "uses-paid.jsonl"
    compact = {"separators": (",", ":")}
    _write_lines(path, [json.dumps(body, **compact) for body in bodies])
    _write_lines(paid_path, [json.dumps(body, **compact) for body in paid])
    return UseFiles(path, len(bodies), len(patients), added, undone, paid_path, holder)
