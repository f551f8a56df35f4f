"""`audit-scale`: proofs and `audit verify` over a log of 10,000,000 entries.

The database is bench/auditdata.py's `consent_bench_audit`, built once and reused. Each run
first puts it back as built (what an earlier `audit-lag` run appended is removed), checks it
cheaply, then measures in-process, through the app's own code (production settings, an app
context, a fresh session per proof as a request has):

* inclusion proofs (`consent_api.audit.proofs.inclusion`) of random entries in the latest
  tree head: p50/p99 over `BENCH_AUDIT_PROOFS` (2,000) samples, each proof verified;
* consistency proofs (`proofs.consistency`) between random pairs of tree heads, likewise;
* `consent-wallet audit verify` (the real CLI, production environment) over the whole log,
  wall time from process start to exit and the `seconds` it reports.
"""

from __future__ import annotations

import os
import random
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg

from bench import auditdata, generate
from bench.auditdata import DATABASE, DATABASE_URL, URL
from bench.database import cli
from bench.paid import verify_cli
from bench.push import percentile
from bench.settings import ADMIN_URL, BenchError
from consent_api.audit import merkle

Say = Callable[[str], None]
PREFIX = 4096  # leaves whose heads are recomputed from the rows at each run
VERIFY_TIMEOUT = 3600
SEED = 20_261_202


def recreate() -> None:
    """Drop the audit database (closing its sessions), create it empty."""
    from psycopg import sql

    name = sql.Identifier(DATABASE)
    with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=10) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        connection.execute(sql.SQL("CREATE DATABASE {}").format(name))


def sequence_queued(app) -> int:
    """Sequence whatever is queued with the real sequencer (as the worker's job does)."""
    from consent_api.audit import sequencer
    from server.db import db, utcnow

    done = 0
    with app.app_context():
        while True:
            batch = sequencer.sequence(now=utcnow())
            db.session.commit()
            done += batch
            if not batch:
                return done


def build(spec: generate.Spec, entries: int, wanted: dict[str, Any], say: Say) -> dict[str, Any]:
    """Make the audit database from scratch: consents as consent_bench's, then the log."""
    from bench.profile import engine_of, make_app
    from consent_api.audit import checkpoints

    started = time.monotonic()
    recreate()
    cli("db", "upgrade", database_url=DATABASE_URL)
    cli("demo", database_url=DATABASE_URL)
    consents = generate.load(URL, spec, wanted["revision"], database=DATABASE, say=say)
    log = auditdata.load_log(entries, say)
    clock = log["clock"]
    app = make_app(DATABASE_URL)
    try:
        with app.app_context():
            signed = auditdata.write_heads(log["heads"], checkpoints.sign)
        clock.lap(f"signing and writing {signed:,} tree heads")
        generate.vacuum_analyze(URL, (*auditdata.TABLES, "audit_queue"))
        clock.lap("VACUUM (ANALYZE)")
        sequenced = sequence_queued(app)
        clock.lap(f"sequencing the {sequenced} queued entries with the real sequencer")
    finally:
        engine_of(app).dispose()
    with psycopg.connect(URL) as connection:
        size, heads = connection.execute(
            "SELECT max(tree_size), count(*) FROM audit_tree_heads"
        ).fetchone()
    stamp = {
        **wanted,
        **{k: consents[k] for k in ("organisations", "versions", "generated_at")},
        "consents_load_s": consents["load_s"],
        "tree_size": size,
        "tree_heads": heads,
        "sequenced_after": sequenced,
        "log_s": clock.total,
        "log_phases_s": clock.phases,
        "build_s": round(time.monotonic() - started, 1),
        "audit_generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    generate.write_stamp(URL, DATABASE, stamp)
    return stamp


def rewind(tree_size: int) -> dict[str, int]:
    """Remove what was appended after the dataset was built (an `audit-lag` run's entries,
    their leaves, nodes and heads), bypassing the append-only
    triggers (session_replication_role = replica), so every run measures the same log."""
    with psycopg.connect(URL) as connection:
        connection.execute("SET LOCAL session_replication_role = replica")
        entries = connection.execute(
            "DELETE FROM audit_entries WHERE id IN (SELECT entry_id FROM audit_leaves "
            "WHERE leaf_index >= %(n)s UNION ALL SELECT entry_id FROM audit_queue)",
            {"n": tree_size},
        ).rowcount
        connection.execute("DELETE FROM audit_queue")
        connection.execute("DELETE FROM audit_leaves WHERE leaf_index >= %s", (tree_size,))
        connection.execute(
            "DELETE FROM audit_nodes WHERE (position + 1) << height > %s", (tree_size,)
        )
        connection.execute("DELETE FROM audit_tree_heads WHERE tree_size > %s", (tree_size,))
        connection.commit()
    return {"entries_removed": entries}


def prepare(
    spec: generate.Spec, entries: int, revision: str, *, regenerate: bool, say: Say
) -> dict[str, Any]:
    """Make the audit database hold the log asked for, as built; return its stamp."""
    wanted = auditdata.stamp_of(entries, revision, spec)
    found = None if regenerate else auditdata.cached(wanted)
    if found is not None:
        rewound = rewind(found["tree_size"])
        say(
            f"audit dataset cached: {found['tree_size']:,} leaves in {DATABASE}, built "
            f"{found.get('audit_generated_at')} in {found.get('build_s')}s; "
            f"{rewound['entries_removed']:,} later entries removed"
        )
        cli("demo", database_url=DATABASE_URL)
        return {**found, **rewound, "cached": True}
    say(f"building {DATABASE}: the consent dataset and {entries:,} audit entries")
    try:
        stamp = build(spec, entries, wanted, say)
    except psycopg.Error as exc:
        raise BenchError(f"building the audit dataset failed: {exc}") from exc
    say(f"audit dataset built in {stamp['build_s']:.1f}s")
    return {**stamp, "cached": False}


def _fresh(db) -> None:
    """End the session as a request would: the next proof reads everything again."""
    db.session.rollback()
    db.session.expunge_all()


def check(app, prefix: int = PREFIX, proofs_checked: int = 20) -> dict[str, Any]:
    """Cheap correctness: the leaves and heads over the first `prefix` leaves against what the
    app's code computes from the rows (`log.as_entry`, `merkle.MemoryTree`), and inclusion
    proofs of random entries verified against the latest head's root."""
    from sqlalchemy import select

    from consent_api.audit import proofs
    from consent_api.audit.log import as_entry
    from consent_api.audit.models import AuditEntry, AuditLeaf, AuditTreeHead
    from server.db import db

    rng = random.Random(SEED)
    with app.app_context():
        rows = db.session.execute(
            select(AuditLeaf.hash, AuditEntry)
            .join(AuditEntry, AuditEntry.id == AuditLeaf.entry_id)
            .order_by(AuditLeaf.leaf_index)
            .limit(prefix)
        ).all()
        computed = [as_entry(entry).leaf_hash() for _, entry in rows]
        leaves_ok = all(
            bytes(stored) == mine for (stored, _), mine in zip(rows, computed, strict=True)
        )
        tree = merkle.MemoryTree(computed)
        heads = db.session.execute(
            select(AuditTreeHead.tree_size, AuditTreeHead.root).where(
                AuditTreeHead.tree_size <= len(computed)
            )
        ).all()
        heads_ok = all(merkle.root(tree.perfect, size) == bytes(root) for size, root in heads)
        latest = proofs.latest_head()
        size, root = latest.tree_size, bytes(latest.root)
        verified = 0
        for _ in range(proofs_checked):
            index = rng.randrange(size)
            entry_id = db.session.scalar(
                select(AuditLeaf.entry_id).where(AuditLeaf.leaf_index == index)
            )
            found = proofs.inclusion(entry_id)
            verified += merkle.verify_inclusion(
                found.leaf_hash, found.leaf_index, found.tree_size, found.path, root
            )
        _fresh(db)
    return {
        "prefix_leaves": len(computed),
        "prefix_leaves_match": leaves_ok,
        "prefix_heads": len(heads),
        "prefix_heads_match": heads_ok,
        "inclusion_proofs_verified": f"{verified}/{proofs_checked}",
        "ok": leaves_ok and heads_ok and verified == proofs_checked,
    }


def _spread(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {
        "samples": len(ordered),
        "p50_ms": round(percentile(ordered, 0.50) * 1000, 3),
        "p90_ms": round(percentile(ordered, 0.90) * 1000, 3),
        "p99_ms": round(percentile(ordered, 0.99) * 1000, 3),
        "max_ms": round(ordered[-1] * 1000, 3),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 3),
    }


def time_proofs(app, samples: int) -> dict[str, Any]:
    """Time inclusion proofs of random entries and consistency proofs between random heads,
    through the app's proofs module, each verified (merkle's verifiers)."""
    from sqlalchemy import select, text

    from consent_api.audit import proofs
    from consent_api.audit.models import AuditLeaf, AuditTreeHead
    from server.db import db

    rng = random.Random(SEED + 1)
    load_before = os.getloadavg()[0]
    with app.app_context():
        latest = proofs.latest_head()
        size = latest.tree_size
        indexes = [rng.randrange(size) for _ in range(samples)]
        ids: dict[int, uuid.UUID] = dict(
            db.session.execute(
                select(AuditLeaf.leaf_index, AuditLeaf.entry_id).where(
                    AuditLeaf.leaf_index.in_(indexes)
                )
            ).all()
        )
        heads = dict(db.session.execute(select(AuditTreeHead.tree_size, AuditTreeHead.root)).all())
        sizes = sorted(heads)
        _fresh(db)
        db.session.execute(text("SELECT 1"))  # connect outside the timing
        _fresh(db)
        inclusion, bad = [], 0
        for index in indexes:
            started = time.perf_counter()
            found = proofs.inclusion(ids[index])
            inclusion.append(time.perf_counter() - started)
            bad += not merkle.verify_inclusion(
                found.leaf_hash, index, found.tree_size, found.path, found.root
            )
            _fresh(db)
        consistency, bad_consistency, lengths = [], 0, []
        for _ in range(samples):
            first, second = sorted(rng.sample(sizes, 2))
            started = time.perf_counter()
            path = proofs.consistency(first, second)
            consistency.append(time.perf_counter() - started)
            lengths.append(len(path))
            bad_consistency += not merkle.verify_consistency(
                first, second, bytes(heads[first]), bytes(heads[second]), path
            )
            _fresh(db)
    return {
        # The machine is shared: proofs are a few milliseconds of CPU, which a busy run queue
        # stretches (the 1-minute load average around the timings).
        "loadavg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "tree_size": size,
        "tree_heads": len(sizes),
        "inclusion": {**_spread(inclusion), "not_verified": bad},
        "consistency": {
            **_spread(consistency),
            "not_verified": bad_consistency,
            "mean_path": round(statistics.fmean(lengths), 1),
        },
    }


def audit_verify() -> dict[str, Any]:
    """Run the real `consent-wallet audit verify` (production environment) over the log."""
    return verify_cli("audit", DATABASE_URL, VERIFY_TIMEOUT)


def measure(
    spec: generate.Spec,
    entries: int,
    revision: str,
    *,
    regenerate: bool,
    samples: int,
    verify_runs: int,
    say: Say,
) -> dict[str, Any]:
    """Prepare the log, check it, time the proofs and `audit verify`."""
    from bench.profile import engine_of, make_app

    stamp = prepare(spec, entries, revision, regenerate=regenerate, say=say)
    app = make_app(DATABASE_URL)
    try:
        checked = check(app)
        say(f"audit-scale: check {checked}")
        timed = time_proofs(app, samples)
    finally:
        engine_of(app).dispose()
    say(
        f"audit-scale: inclusion p50 {timed['inclusion']['p50_ms']:.2f} ms, p99 "
        f"{timed['inclusion']['p99_ms']:.2f} ms; consistency p50 "
        f"{timed['consistency']['p50_ms']:.2f} ms, p99 {timed['consistency']['p99_ms']:.2f} ms"
    )
    runs = []
    for number in range(verify_runs):
        say(f"audit-scale: consent-wallet audit verify over {timed['tree_size']:,} leaves")
        found = audit_verify()
        say(
            f"audit verify (CLI) run {number + 1}: {found['wall_s']:.1f}s end to end, "
            f"{found.get('seconds')}s in verify(), ok={found.get('ok')}"
        )
        runs.append(found)
    result: dict[str, Any] = {
        "database": DATABASE,
        "dataset": stamp,
        "check": checked,
        **timed,
        "verify_runs": runs,
        "verify_wall_s": runs[-1]["wall_s"] if runs else None,
        "verify_s": runs[-1].get("seconds") if runs else None,
        "verify_ok": all(run.get("ok") and run["exit_code"] == 0 for run in runs),
    }
    problems = []
    if not checked["ok"]:
        problems.append(f"the log does not check: {checked}")
    if timed["inclusion"]["not_verified"] or timed["consistency"]["not_verified"]:
        problems.append("some proofs did not verify")
    if runs and not result["verify_ok"]:
        problems.append(f"audit verify did not say ok: {runs[-1]}")
    if problems:
        result["problem"] = "; ".join(problems)
    return result
