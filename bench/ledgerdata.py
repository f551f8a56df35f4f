"""`ledger verify` at scale: a million paid data uses with their postings, and the time the
real `consent-wallet ledger verify` takes over them.

The dataset lives in its own database, `consent_bench_ledger` (migrated to head with
`consent-wallet db upgrade`), so the wrk scenarios' per-run reset (bench/usedata.py) never
touches it and their figures stay comparable with runs that had no ledger. Its organisations
and patients are copied from `consent_bench` (COPY, binary), so the uses are spread over the
bench's own patients; the consents are not copied (nothing in the ledger refers to them by
key: `data_uses.consents` names them in JSON, as the app writes it).

Each use is drawn from a paid consent of the bench dataset (pharma and research grants with
a fee per use of 5, 10 or 25 points): its patient, its grantee (an organisation of the type
for a by-type grant), a category, purpose and action within its scope, its fee. Every other
use names a data holder (a hospital). Each use gets what `points.service.post_use` writes:
one `use_fee` transaction keyed `use:<id>` with the app's details, one entry per non-zero
leg of the real split (`consent_api.points.split.split`, the default terms: the organisation
-fee, the wallet +patient share, the trustee +commission and rounding, the holder +its
share; legs of zero are left out, as `ledger.post` does), one lot per wallet credit expiring
POINTS_EXPIRY_MONTHS later (`lots.add_months`); and the accounts (`ledger.account_id`), the
wallets' balances the sum of their credits. The uses are a year of history, oldest first.
So every invariant `verify()` checks holds by construction, and the run confirms it.

Loading is `bench/generate.py`'s: the five tables' keys, indexes and foreign keys (either
way) are dropped, four COPY ... (FREEZE) streams on their own connections are fed by one
generating loop (the accounts follow), then every constraint and index is rebuilt from its
saved definition (so the foreign keys are checked against the data) and the tables are
`VACUUM (ANALYZE)`d. The database's comment records the dataset; a later run asking for the
same size on the same schema revision reuses it (BENCH_REGENERATE=1 rebuilds it too).
"""

from __future__ import annotations

import json
import random
import statistics
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from bench import generate
from bench.database import cli
from bench.generate import NULL, Clock, _copy_statement, _rand_uuid, _ts
from bench.paid import ledger_verify
from bench.settings import ADMIN_URL, PG_URL, RESULTS, BenchError
from bench.usedata import use_body
from consent_api.points import ledger
from consent_api.points.lots import add_months
from consent_api.points.split import DEFAULT_TERMS, split

DATABASE = "consent_bench_ledger"
DATABASE_URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{DATABASE}"
URL = f"postgresql://postgres@127.0.0.1:5432/{DATABASE}"
GENERATOR = 1  # bump whenever the generated ledger changes: a cached one is then rebuilt
SEED = 20_261_129
YEAR = 365 * 86_400
EXPIRY_MONTHS = 24  # POINTS_EXPIRY_MONTHS' default: the bench sets no POINTS_* variable
CHUNK = 5_000  # uses per COPY write
TABLES = ("data_uses", "ledger_transactions", "ledger_entries", "point_lots", "ledger_accounts")
COPIED = ("organisations", "patients")
STATEMENTS = (  # verify()'s queries, in the order it runs them (its result's keys)
    "postings",
    "entries",
    "sum_of_all_entries",
    "unbalanced_transactions",
    "wallets_not_matching_entries",
    "wallets_not_matching_lots",
    "negative_wallets",
    "paid_uses_without_exactly_one_posting",
)

Say = Callable[[str], None]

USE_COLUMNS = (
    "id",
    "patient_id",
    "org_id",
    "holder_org_id",
    "data_categories",
    "purpose",
    "action",
    "record_count",
    "occurred_at",
    "outcome",
    "reason",
    "emergency",
    "consents",
    "fee",
    "points_credited",
    "created_at",
)
TRANSACTION_COLUMNS = ("id", "key", "kind", "data_use_id", "details", "created_at")
ENTRY_COLUMNS = ("id", "transaction_id", "account_id", "amount", "created_at")
LOT_COLUMNS = ("id", "account_id", "entry_id", "amount", "remaining", "expires_at", "created_at")
ACCOUNT_COLUMNS = ("id", "kind", "owner_id", "balance", "created_at")


def stamp_of(uses: int, revision: str, source: dict[str, Any] | None) -> dict[str, Any]:
    """What identifies a ledger dataset: its size, generator, schema and source dataset."""
    source = source or {}
    return {
        "ledger_generator": GENERATOR,
        "seed": SEED,
        "uses": uses,
        "revision": revision,
        "source_patients": source.get("patients"),
        "source_consents": source.get("consents"),
        "source_generator": source.get("generator"),
    }


def cached(wanted: dict[str, Any]) -> dict[str, Any] | None:
    """Return the recorded stamp of a ledger database holding the dataset wanted, or None."""
    stamp = generate.read_stamp(ADMIN_URL, DATABASE)
    if stamp is None or generate.current_revision(URL) != wanted["revision"]:
        return None
    return stamp if all(stamp.get(key) == value for key, value in wanted.items()) else None


def recreate() -> None:
    """Drop the ledger database (closing its sessions), create it empty, migrate it."""
    name = sql.Identifier(DATABASE)
    with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=10) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        connection.execute(sql.SQL("CREATE DATABASE {}").format(name))
    cli("db", "upgrade", database_url=DATABASE_URL)


def copy_tables(source_url: str, target_url: str, tables: tuple[str, ...]) -> dict[str, int]:
    """Copy whole tables between two databases at the same revision (binary COPY)."""
    counts = {}
    with psycopg.connect(source_url) as source, psycopg.connect(target_url) as target:
        for table in tables:
            name = sql.Identifier(table)
            with (
                source.cursor().copy(
                    sql.SQL("COPY {} TO STDOUT (FORMAT BINARY)").format(name)
                ) as out,
                target.cursor().copy(
                    sql.SQL("COPY {} FROM STDIN (FORMAT BINARY)").format(name)
                ) as into,
            ):
                for block in out:
                    into.write(block)
            counts[table] = target.execute(
                sql.SQL("SELECT count(*) FROM {}").format(name)
            ).fetchone()[0]
        target.commit()
    return counts


def paid_consents(source_url: str) -> list[tuple]:
    """Return (patient, categories, purposes, actions, id, version, org id, org type, fee)
    of every consent with a fee per use, in a stable order."""
    with psycopg.connect(source_url) as connection:
        rows = connection.execute(
            "SELECT patient_id::text, data_categories, purposes, actions, id::text, version, "
            "grantee_org_id::text, grantee_org_type, fee_per_use FROM consents "
            "WHERE fee_per_use > 0 ORDER BY id"
        ).fetchall()
    if not rows:
        raise BenchError("the bench dataset has no consent with a fee per use to draw on")
    return rows


def organisations_by_type(url: str) -> dict[str, list[str]]:
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT type, id::text FROM organisations WHERE status = 'active' ORDER BY id"
        ).fetchall()
    by_type: dict[str, list[str]] = {}
    for kind, org_id in rows:
        by_type.setdefault(kind, []).append(org_id)
    return by_type


class Accounts:
    """The ledger accounts the postings touch: id, kind, owner, wallet balance, first use."""

    def __init__(self) -> None:
        self.rows: dict[str, list] = {}  # id -> [kind, owner, balance, created_at]
        self._ids: dict[tuple[str, str | None], str] = {}

    def id(self, kind: str, owner: str | None, at: str) -> str:
        key = (kind, owner)
        found = self._ids.get(key)
        if found is None:
            found = self._ids[key] = str(
                ledger.account_id(kind, uuid.UUID(owner) if owner else None)
            )
            # _ensure_accounts: a system account is its own owner
            self.rows[found] = [kind, owner or found, 0, at]
        return found

    def lines(self) -> str:
        return "".join(
            f"{account}\t{kind}\t{owner}\t{balance}\t{created}\n"
            for account, (kind, owner, balance, created) in self.rows.items()
        )


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


class UseMaker:
    """One paid use and everything `post_use` writes for it, as COPY lines."""

    def __init__(self, rng: random.Random, consents: list[tuple], orgs: dict[str, list[str]]):
        self.rng = rng
        self.consents = consents
        self.orgs = orgs
        self.hospitals = orgs.get("hospital") or [o for group in orgs.values() for o in group]
        self.accounts = Accounts()
        self.totals = {"entries": 0, "lots": 0, "with_holder": 0, "fees": 0, "patient": 0}
        self.terms = DEFAULT_TERMS._asdict()

    def make(self, number: int, epoch: int) -> tuple[str, str, str, str]:
        rng = self.rng
        row = self.consents[int(rng.random() * len(self.consents))]
        _, _, _, _, consent_id, version, grantee_id, grantee_type, fee = row
        patient = row[0]
        if grantee_id is None:
            grantees = self.orgs[grantee_type]
            grantee_id = grantees[int(rng.random() * len(grantees))]
        org = grantee_id
        holder = None
        if number % 2:
            holder = self.hospitals[int(rng.random() * len(self.hospitals))]
            if holder == org:
                holder = None
        body = use_body(rng, row, emergency_share=0.0)
        occurred = epoch - int(rng.random() * 3_600)
        created = _ts(epoch)
        parts = split(fee, DEFAULT_TERMS, has_holder=holder is not None)
        use_id, transaction_id = _rand_uuid(rng), _rand_uuid(rng)
        categories = body["data_categories"]
        relied_on = [
            {"consent_id": consent_id, "consent_version": version, "data_categories": categories}
        ]
        use = (
            f"{use_id}\t{patient}\t{org}\t{holder or NULL}\t{_json(categories)}\t"
            f"{body['purpose']}\t{body['action']}\t{body['record_count']}\t{_ts(occurred)}\t"
            f"permitted\tpermitted\tf\t"
            f"{_json(relied_on)}\t{fee}\t{parts.patient}\t{created}\n"
        )
        details = {
            "fee": fee,
            "org_id": org,
            "holder_org_id": holder,
            "purpose": body["purpose"],
            "split": parts._asdict(),
            "terms": self.terms,
        }
        transaction = (
            f"{transaction_id}\tuse:{use_id}\tuse_fee\t{use_id}\t{_json(details)}\t{created}\n"
        )
        # ledger.post: legs merged by account, zeros left out
        legs: dict[str, int] = {}
        accounts = self.accounts
        wallet = accounts.id(ledger.WALLET, patient, created)
        for account, amount in (
            (accounts.id("organisation", org, created), -fee),
            (wallet, parts.patient),
            (accounts.id("trustee", None, created), parts.trustee),
            (accounts.id("organisation", holder, created) if holder else None, parts.holder),
        ):
            if account is not None:
                legs[account] = legs.get(account, 0) + amount
        entries, lot = [], ""
        for account, amount in legs.items():
            if not amount:
                continue
            entry_id = _rand_uuid(rng)
            entries.append(f"{entry_id}\t{transaction_id}\t{account}\t{amount}\t{created}\n")
            if account == wallet:
                accounts.rows[wallet][2] += amount
                expires = add_months(datetime.fromtimestamp(epoch, UTC), EXPIRY_MONTHS)
                lot = (
                    f"{_rand_uuid(rng)}\t{wallet}\t{entry_id}\t{amount}\t{amount}\t"
                    f"{expires.isoformat()}\t{created}\n"
                )
        totals = self.totals
        totals["entries"] += len(entries)
        totals["lots"] += bool(lot)
        totals["with_holder"] += holder is not None
        totals["fees"] += fee
        totals["patient"] += parts.patient
        return use, transaction, "".join(entries), lot


def load(uses: int, wanted: dict[str, Any], say: Say) -> dict[str, Any]:
    """Build the ledger database from scratch; return (and record) its stamp."""
    clock = Clock(say)
    recreate()
    copied = copy_tables(PG_URL, URL, COPIED)
    clock.lap(f"migrating and copying {copied['patients']:,} patients")
    consents = paid_consents(PG_URL)
    maker = UseMaker(random.Random(SEED), consents, organisations_by_type(URL))
    with psycopg.connect(URL) as connection:
        ddl = generate.capture_ddl(connection, TABLES)
        generate.drop_ddl(connection, ddl)
        connection.commit()
    now = int(time.time())
    first = now - YEAR
    step = YEAR / uses
    columns = (USE_COLUMNS, TRANSACTION_COLUMNS, ENTRY_COLUMNS, LOT_COLUMNS, ACCOUNT_COLUMNS)
    with ExitStack() as stack:
        streams = [stack.enter_context(psycopg.connect(URL)) for _ in TABLES]
        for connection, table in zip(streams, TABLES, strict=True):
            connection.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(table)))
        with ExitStack() as copying:  # one COPY per table but the accounts, fed at once
            copies = [
                copying.enter_context(
                    connection.cursor().copy(_copy_statement(table, cols, freeze=True))
                )
                for connection, table, cols in zip(streams[:4], TABLES, columns, strict=False)
            ]
            for start in range(0, uses, CHUNK):
                rows = [
                    maker.make(number, int(first + number * step))
                    for number in range(start, min(uses, start + CHUNK))
                ]
                for index, copy in enumerate(copies):
                    copy.write("".join(row[index] for row in rows))
        with streams[4].cursor().copy(_copy_statement(TABLES[4], columns[4], freeze=True)) as copy:
            copy.write(maker.accounts.lines())
        for connection in streams:
            connection.commit()
    totals = maker.totals
    clock.lap(
        f"COPY {uses:,} uses and postings, {totals['entries']:,} entries, "
        f"{totals['lots']:,} lots, {len(maker.accounts.rows):,} accounts"
    )
    with psycopg.connect(URL) as connection:
        generate.restore_ddl(connection, ddl)
        connection.commit()
    clock.lap("rebuilding keys, indexes and foreign keys")
    generate.vacuum_analyze(URL, (*COPIED, *TABLES))
    clock.lap("VACUUM (ANALYZE)")
    stamp = {
        **wanted,
        "paid_consents_drawn_on": len(consents),
        "entries": totals["entries"],
        "lots": totals["lots"],
        "accounts": len(maker.accounts.rows),
        "wallets": sum(1 for row in maker.accounts.rows.values() if row[0] == ledger.WALLET),
        "with_holder": totals["with_holder"],
        "fees": totals["fees"],
        "patient_points": totals["patient"],
        "generated_at": datetime.fromtimestamp(now, UTC).isoformat(),
        "load_s": clock.total,
        "phases_s": clock.phases,
    }
    generate.write_stamp(URL, DATABASE, stamp)
    return stamp


def prepare(
    uses: int, source: dict[str, Any] | None, revision: str, *, regenerate: bool, say: Say
) -> dict[str, Any]:
    """Make the ledger database hold `uses` paid uses; return its stamp (cached or not)."""
    wanted = stamp_of(uses, revision, source)
    found = None if regenerate else cached(wanted)
    if found is not None:
        say(
            f"ledger dataset cached: {uses:,} paid uses in {DATABASE}, loaded "
            f"{found.get('generated_at')} in {found.get('load_s')}s"
        )
        return {**found, "cached": True}
    say(f"building {DATABASE}: {uses:,} paid uses with their postings")
    try:
        stamp = load(uses, wanted, say)
    except psycopg.Error as exc:
        raise BenchError(f"loading the ledger dataset failed: {exc}") from exc
    say(f"ledger dataset loaded in {stamp['load_s']:.1f}s")
    return {**stamp, "cached": False}


# --- timing verify ---------------------------------------------------------------------------


def in_process(runs: int) -> dict[str, Any]:
    """Call `verify()` in an app context (production settings) `runs` times; time each call
    and each of its statements (cursor.execute, by order), and return the last result."""
    from sqlalchemy import event

    from bench.profile import engine_of, make_app
    from consent_api.uses.verify import verify

    app = make_app(DATABASE_URL)
    engine = engine_of(app)
    timings: list[list[float]] = []
    statements: list[tuple[str, Any]] = []
    current: list[float] = []

    def before(conn, cursor, statement, parameters, context, executemany) -> None:
        conn.info["bench_started"] = time.perf_counter()

    def after(conn, cursor, statement, parameters, context, executemany) -> None:
        current.append(time.perf_counter() - conn.info.pop("bench_started"))
        if not timings:
            statements.append((statement, parameters))

    seconds, found = [], {}
    with app.app_context():
        from sqlalchemy import text

        from server.db import db

        db.session.execute(text("SELECT 1"))  # connect outside the timing
        db.session.rollback()
    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        with app.app_context():
            for _ in range(runs):
                current.clear()
                started = time.perf_counter()
                found = verify()
                seconds.append(time.perf_counter() - started)
                timings.append(list(current))
                db.session.rollback()
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
        engine.dispose()
    per_statement = []
    if timings and len(timings[0]) == len(STATEMENTS):
        for index, name in enumerate(STATEMENTS):
            per_statement.append(
                {
                    "check": name,
                    "median_s": round(statistics.median(t[index] for t in timings), 3),
                }
            )
    return {
        "runs_s": [round(s, 3) for s in seconds],
        "median_s": round(statistics.median(seconds), 3),
        "per_statement": per_statement,
        "result": found,
        "statements": statements,
    }


def explain(statements: list[tuple[str, Any]]) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of verify()'s statements (as it sent them), in turn."""
    parts = []
    with psycopg.connect(URL, autocommit=True) as connection:
        for name, (statement, parameters) in zip(STATEMENTS, statements, strict=False):
            plan = connection.execute(
                f"EXPLAIN (ANALYZE, BUFFERS) {statement}", parameters
            ).fetchall()
            parts.append(
                f"== {name}\n{statement}\n{parameters}\n\n" + "\n".join(r[0] for r in plan)
            )
    return "\n\n".join(parts) + "\n"


def time_verify(runs: int, say: Say) -> dict[str, Any]:
    """Time the CLI end to end `runs` times, then verify() in-process; explain its queries."""
    cli_runs = []
    for number in range(runs):
        found = ledger_verify(DATABASE_URL)
        say(
            f"ledger verify (CLI) run {number + 1}: {found['wall_s']:.2f}s end to end, "
            f"{found.get('seconds')}s in verify(), ok={found.get('ok')}"
        )
        cli_runs.append(found)
    inside = in_process(runs)
    say(f"ledger verify in-process: median {inside['median_s']:.2f}s over {runs} runs")
    path = RESULTS / "profile-ledger-verify.txt"
    statements = inside.pop("statements")
    try:
        RESULTS.mkdir(parents=True, exist_ok=True)
        header = (
            f"EXPLAIN (ANALYZE, BUFFERS) of consent_api.points.verify.verify()'s statements on "
            f"{DATABASE} ({cli_runs[-1].get('postings', 0):,} postings, "
            f"{cli_runs[-1].get('entries', 0):,} entries)\n\n"
        )
        path.write_text(header + explain(statements))
        plans = str(path.relative_to(RESULTS.parent.parent))
    except (OSError, psycopg.Error) as exc:
        plans = f"failed: {type(exc).__name__}: {exc}"
    last = cli_runs[-1]
    return {
        "database": DATABASE,
        "postings": last.get("postings"),
        "entries": last.get("entries"),
        "ok": all(run.get("ok") and run.get("exit_code") == 0 for run in cli_runs)
        and bool(inside["result"].get("ok")),
        "cli_wall_s": [run["wall_s"] for run in cli_runs],
        "cli_wall_median_s": round(statistics.median(run["wall_s"] for run in cli_runs), 3),
        "cli_verify_s": [run.get("seconds") for run in cli_runs],
        "cli_verify_median_s": round(
            statistics.median(run.get("seconds") or 0 for run in cli_runs), 3
        ),
        "cli_result": {k: v for k, v in last.items() if k not in ("wall_s",)},
        "in_process": inside,
        "plans": plans,
    }
