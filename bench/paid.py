"""The paid data-use scenario: fees on while it runs, the ledger checked afterwards.

`fees` gives every unpaid consent of the sampled patients that names the demo hospital a fee
per use (bench/usedata.py keeps the originals and puts them back when the block ends, or in
the next run's reset), so every permitted use of `data-use-paid` posts to the points ledger:
one `use_fee` transaction (organisation -fee, wallet +patient share, trustee +commission, and
the holder's share when the use names one), the wallet's balance update and a lot, beside
the use, the notice and its outbox row.

`check` then compares what the server wrote with what wrk saw and runs the real
`consent-wallet ledger verify` against the bench database:

* every permitted use written during the scenario is paid (fee > 0) and has exactly one
  `use_fee` posting, with one entry per non-zero leg of the real split and one lot per wallet
  credit;
* the 201s wrk counted (probe, warm-up and measured run) are at most the uses the server
  wrote: wrk stops with requests still queued at gunicorn's workers, which answer (and
  commit) them after wrk has gone, so the server-side count is the exact one and the
  difference is at most the connections of each wrk run;
* `ledger verify` says ok.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from bench import usedata
from bench.database import CLI
from bench.generate import hospital_patients
from bench.server import production_env
from bench.settings import ROOT, BenchError
from consent_api.points.split import DEFAULT_TERMS, Terms, split

VERIFY_TIMEOUT = 600


@dataclass
class Fees:
    """The consents made paid for one scenario, and when it started (epoch seconds)."""

    consents: int
    patients: int
    fee: int
    started: float
    restored: int | None = None
    notes: list[str] = field(default_factory=list)


def patients_of(connection: psycopg.Connection, bodies: Path) -> list[str]:
    """Return the patients the bodies file names (by the demo hospital's references)."""
    with bodies.open() as lines:
        named = sorted({json.loads(line)["patient_ref"] for line in lines if line.strip()})
    return sorted(hospital_patients(connection, named))


@contextmanager
def fees(pg_url: str, bodies: Path, fee: int = usedata.PAID_FEE) -> Iterator[Fees]:
    """Make the consents these uses rely on paid until the block ends."""
    with psycopg.connect(pg_url) as connection:
        patients = patients_of(connection, bodies)
        usedata.restore_fees(connection)  # a run that died may have left some paid
        made = usedata.set_fees(connection, patients, fee)
        connection.execute("ANALYZE consents")
        connection.commit()
    paid = Fees(consents=made, patients=len(patients), fee=fee, started=time.time())
    try:
        yield paid
    finally:
        with psycopg.connect(pg_url) as connection:
            paid.restored = usedata.restore_fees(connection)
            connection.commit()


def ledger_verify(database_url: str, timeout: float = VERIFY_TIMEOUT) -> dict[str, Any]:
    """Run `consent-wallet ledger verify` as production would (see `verify_cli`)."""
    return verify_cli("ledger", database_url, timeout)


def verify_cli(command: str, database_url: str, timeout: float = VERIFY_TIMEOUT) -> dict[str, Any]:
    """Run `consent-wallet <command> verify` as production would; return its JSON, exit code
    and wall time (process start to exit: interpreter, app import, connection and queries)."""
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [str(CLI), command, "verify"],
            cwd=ROOT,
            env=production_env(database_url),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"`consent-wallet {command} verify` ran past {timeout:.0f}s") from exc
    wall = time.perf_counter() - started
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise BenchError(
            f"`consent-wallet {command} verify` exited {done.returncode} without its JSON:\n"
            f"{done.stdout[-1000:]}{done.stderr[-2000:]}"
        )
    found = json.loads(lines[-1])
    found["exit_code"] = done.returncode
    found["wall_s"] = round(wall, 3)
    return found


def terms(connection: psycopg.Connection) -> Terms:
    """The split in force, as the app reads it (the operator's latest, else the defaults;
    the bench never sets POINTS_* in the environment)."""
    row = connection.execute(
        "SELECT commission_bp, patient_bp FROM points_terms ORDER BY created_at DESC LIMIT 1"
    ).fetchone()
    return Terms(*row) if row else DEFAULT_TERMS


def legs(fee: int, has_holder: bool, in_force: Terms) -> int:
    """The entries a posting of this fee has: one per non-zero leg (organisation, wallet,
    trustee, holder)."""
    parts = split(fee, in_force, has_holder=has_holder)
    return 1 + sum(1 for part in (parts.patient, parts.trustee, parts.holder) if part)


def check(paid: Fees, pg_url: str, database_url: str, *, answered_201: int) -> dict[str, Any]:
    """Compare the uses written since the scenario started with their postings; verify."""
    since = paid.started
    # One snapshot for every count: uses still queued at the server when wrk stopped keep
    # committing meanwhile (threaded workers queue more than sync ones did), and counting
    # uses and postings at different moments would find one without the other.
    with (
        psycopg.connect(pg_url, autocommit=False) as connection,
        connection.transaction(),
    ):
        connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        written = connection.execute(
            "SELECT count(*) FILTER (WHERE outcome = 'permitted' AND fee > 0), "
            "count(*) FILTER (WHERE outcome = 'permitted' AND fee = 0 "
            "AND reason <> 'emergency_access'), "
            "count(*) FILTER (WHERE outcome = 'permitted' AND fee = 0 "
            "AND reason = 'emergency_access'), "
            "count(*) FILTER (WHERE outcome = 'refused'), "
            "count(*) FILTER (WHERE outcome = 'permitted' AND holder_org_id IS NOT NULL), "
            "coalesce(sum(fee), 0), coalesce(sum(points_credited), 0) "
            "FROM data_uses WHERE created_at >= to_timestamp(%s)",
            (since,),
        ).fetchone()
        shapes = connection.execute(
            "SELECT fee, holder_org_id IS NOT NULL, count(*) FROM data_uses "
            "WHERE created_at >= to_timestamp(%s) AND outcome = 'permitted' AND fee > 0 "
            "GROUP BY 1, 2",
            (since,),
        ).fetchall()
        posted = connection.execute(
            "SELECT count(DISTINCT t.id), count(e.id), count(DISTINCT t.data_use_id) "
            "FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id "
            "WHERE t.kind = 'use_fee' AND t.created_at >= to_timestamp(%s)",
            (since,),
        ).fetchone()
        lots = connection.execute(
            "SELECT count(*), coalesce(sum(amount), 0) FROM point_lots "
            "WHERE created_at >= to_timestamp(%s)",
            (since,),
        ).fetchone()
        in_force = terms(connection)
        accounts = dict(
            connection.execute("SELECT kind, count(*) FROM ledger_accounts GROUP BY 1").fetchall()
        )
    paid_uses, unpaid, emergency, refused, with_holder, fees_total, credited = written
    postings, entries, posted_uses = posted
    expected_entries = sum(n * legs(fee, holder, in_force) for fee, holder, n in shapes)
    verify = ledger_verify(database_url)
    found: dict[str, Any] = {
        "fee_per_consent": paid.fee,
        "consents_made_paid": paid.consents,
        "patients": paid.patients,
        "uses_201_written": paid_uses + unpaid + emergency,
        "paid_uses": paid_uses,
        "unpaid_201s": unpaid,
        # Emergency treatment access without a consent is permitted and pays no one.
        "emergency_without_consent": emergency,
        "refused_written": refused,
        "with_holder": with_holder,
        "fees_total": int(fees_total),
        "patient_points": int(credited),
        "use_fee_postings": postings,
        "uses_posted": posted_uses,
        "entries": entries,
        "entries_expected": expected_entries,
        "lots": lots[0],
        "lot_points": int(lots[1]),
        "accounts": accounts,
        "terms": in_force._asdict(),
        "wrk_201s": answered_201,
        "written_not_seen_by_wrk": paid_uses + unpaid + emergency - answered_201,
        "verify": verify,
    }
    found["postings_match"] = (
        postings == paid_uses + unpaid == posted_uses
        and entries == expected_entries
        and lots[0] == postings
        and int(lots[1]) == int(credited)
    )
    return found


def judge(found: dict[str, Any], wrk_runs: int, connections: int) -> list[str]:
    """Return why the paid scenario's ledger is wrong (an empty list when it is right)."""
    problems = []
    if not found["verify"].get("ok") or found["verify"].get("exit_code"):
        failing = {k: v for k, v in found["verify"].items() if k not in ("postings", "entries")}
        problems.append(f"ledger verify failed: {failing}")
    if found["unpaid_201s"]:
        problems.append(f"{found['unpaid_201s']} permitted uses were not paid")
    if not found["postings_match"]:
        problems.append(
            f"{found['use_fee_postings']:,} use_fee postings ({found['entries']:,} entries, "
            f"{found['entries_expected']:,} expected; {found['lots']:,} lots) for "
            f"{found['paid_uses']:,} paid uses"
        )
    gap = found["written_not_seen_by_wrk"]
    if gap < 0 or gap > wrk_runs * connections + 1:
        problems.append(
            f"wrk counted {found['wrk_201s']:,} 201s, the server wrote "
            f"{found['uses_201_written']:,} permitted uses"
        )
    return problems
