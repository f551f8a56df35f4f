"""Where a consent check (and a data use) spends its time: the app in-process, on the bench
database.

The app runs with production settings (pool pre-ping included) behind Flask's test client,
so there is no gunicorn or HTTP parsing here. Three measurements, each on its own:

* round trips: libpq's own protocol trace (PQtrace) of every pooled connection, counted per
  check as the difference between a short and a long run (connection set-up cancels out);
* phases: the exclusive wall time of the hot-path functions, wrapped with timers;
* cProfile: the top frames by cumulative time, written to bench/results/profile-*.txt.

The data-use profile (`run_uses`) measures the same three for POST /v1/data-uses with the
sampled use bodies (each with its own Idempotency-Key, at the current time); the uses it
reports are real writes, undone with the rest at the start of the next run. With `paid` it
sends the paid scenario's bodies while their consents carry a fee (bench/paid.py), so each
use also posts to the points ledger.

Only the standard library's cProfile is used, so `make bench` needs nothing extra.
"""

from __future__ import annotations

import base64
import contextlib
import cProfile
import functools
import gc
import pstats
import re
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from psycopg import pq
from sqlalchemy import Engine, event

from bench.checkdata import CheckFiles
from bench.settings import ISSUER, PSEUDONYM_KEY, RESULTS, ROOT, BenchError
from bench.usedata import NOW, UseFiles
from server.demo import DEMO

SINGLE_CHECKS = 2_000  # under cProfile
PHASE_CHECKS = 1_000  # under the phase timers
TRACE_SHORT, TRACE_LONG = 10, 60  # round trips = (long - short) / 50
BATCHES = 3
TOP = 25
TOP_SELF = 15
PLAN_WIDTH = 160  # EXPLAIN lines are cut here: the IN list of a batch is very long
HIDDEN = ("/bench/", "werkzeug/test.py", "flask/testing.py", "<string>", "_lsprof", "cProfile")
SINGLE_PATH = "/v1/consent-checks"
BATCH_PATH = "/v1/consent-checks/batch"
USE_PATH = "/v1/data-uses"
PROFILED_USES = 500  # under cProfile
PHASE_USES = 500  # under the phase timers
_MESSAGE = re.compile(r"^[FB]\t\d+\t")  # a libpq trace line that starts a message
_TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE)\s+(\w+)")


# --- the app --------------------------------------------------------------------------------


def make_app(url: str) -> Flask:
    """Create the app as production would run it, on the bench database."""
    from bench.server import signing_key_file
    from server.app import create_app

    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "APP_ENV": "production",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "ISSUER": ISSUER,
            "PSEUDONYM_KEY": PSEUDONYM_KEY,
            "LOG_LEVEL": "WARNING",
            "SIGNING_KEY_FILE": signing_key_file(),
        }
    )


def engine_of(app: Flask) -> Engine:
    """Return the app's SQLAlchemy engine."""
    from server.db import db

    with app.app_context():
        return db.engine


def org_headers(client: FlaskClient) -> dict[str, str]:
    """Return the demo hospital's bearer header (client_credentials) and the JSON type."""
    _, _, client_id, secret = DEMO["hospital"]
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    if response.status_code != 200:
        raise BenchError(f"in-process token request answered {response.status_code}")
    token = response.get_json()["access_token"]
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


class Caller:
    """Sends check bodies through the test client, in turn, and insists on 200."""

    def __init__(self, client: FlaskClient, headers: dict[str, str], files: CheckFiles) -> None:
        self.client = client
        self.headers = headers
        self.singles = _lines(files.single)
        self.batches = _lines(files.batches)
        self.turn = 0

    def single(self) -> None:
        """Send the next single check."""
        self.turn += 1
        self._post(SINGLE_PATH, self.singles[self.turn % len(self.singles)])

    def batch(self) -> None:
        """Send the next batch."""
        self.turn += 1
        self._post(BATCH_PATH, self.batches[self.turn % len(self.batches)])

    def _post(self, path: str, body: str) -> None:
        response = self.client.post(path, data=body, headers=self.headers)
        if response.status_code != 200:
            raise BenchError(f"in-process {path} answered {response.status_code}")


class UseCaller:
    """Sends the sampled data uses through the test client, each with its own key, now."""

    def __init__(
        self, client: FlaskClient, headers: dict[str, str], files: UseFiles, *, paid: bool = False
    ) -> None:
        self.client = client
        self.headers = headers
        self.bodies = _lines(files.paid_bodies if paid else files.bodies)
        self.turn = 0
        self.statuses: Counter[int] = Counter()

    def single(self) -> None:
        """Report the next use; a refusal (403) is an answer too."""
        self.turn += 1
        body = self.bodies[self.turn % len(self.bodies)]
        body = body.replace(NOW, datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        headers = {**self.headers, "Idempotency-Key": f"bench-profile-{uuid.uuid4().hex}"}
        response = self.client.post(USE_PATH, data=body, headers=headers)
        self.statuses[response.status_code] += 1
        if response.status_code not in (201, 403):
            raise BenchError(f"in-process {USE_PATH} answered {response.status_code}")


def _lines(path: Path) -> list[str]:
    lines = [line for line in path.read_text().splitlines() if line]
    if not lines:
        raise BenchError(f"{path} holds no request bodies")
    return lines


# --- phase timers ---------------------------------------------------------------------------


class Phases:
    """Exclusive wall time per wrapped function (time in wrapped callees is subtracted)."""

    def __init__(self) -> None:
        self.enabled = False
        self.seconds: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self._children: list[float] = []

    def wrap(self, label: str, func: Callable) -> Callable:
        """Return func timed under `label` while enabled."""

        @functools.wraps(func)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if not self.enabled:
                return func(*args, **kwargs)
            started = time.perf_counter()
            self._children.append(0.0)
            try:
                return func(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - started
                inner = self._children.pop()
                self.seconds[label] += elapsed - inner
                self.calls[label] += 1
                if self._children:
                    self._children[-1] += elapsed

        return timed

    def reset(self) -> None:
        """Forget what was timed so far."""
        self.seconds.clear()
        self.calls.clear()


def hot_path() -> list[tuple[str, Any, str]]:
    """Return (label, owner, attribute) of the functions a single check goes through."""
    from consent_api.auth import server as auth_server
    from consent_api.decisions import checks, routes, store
    from server import db

    return [
        ("parse the JSON body", routes, "json_body"),
        ("validate the check", checks, "parse_one"),
        ("bearer token query", auth_server.BearerValidator, "authenticate_token"),
        ("read connection (kept per thread)", db.ReadConnections, "_connection"),
        ("candidate consents query", store, "candidates"),
        ("scope JSON to sets (cached)", store, "_codes"),
        ("exclusions JSON (cached)", store, "exclusions"),
        ("decide()", checks, "decide"),
        ("render the JSON answer", routes, "jsonify"),
    ]


def use_path() -> list[tuple[str, Any, str]]:
    """Return (label, owner, attribute) of the functions a data use goes through."""
    from sqlalchemy.orm import Session

    from consent_api.auth import server as auth_server
    from consent_api.decisions import locking
    from consent_api.points import ledger, lots
    from consent_api.points import service as points
    from consent_api.uses import notices, routes, schemas, service
    from server import idempotency

    return [
        ("bearer token query", auth_server.BearerValidator, "authenticate_token"),
        ("Idempotency-Key: store the answer", idempotency, "_record"),
        ("parse and validate the body", schemas.DataUseIn, "load"),
        ("the organisation from the token (current_org_ref)", routes, "current_org_ref"),
        ("load the patient (_validate)", service, "_validate"),
        ("candidate consents FOR UPDATE", locking, "candidates_at"),
        ("decide_use()", service, "decide_use"),
        ("use_count UPDATE", locking, "count_uses"),
        ("points terms query (price)", points, "current_terms"),
        ("ledger post: key look-up, accounts upsert, wallet UPDATE, INSERTs", ledger, "post"),
        ("open the lot", lots, "open_lot"),
        ("notice: insert it and its pushes (notify)", notices, "notify"),
        ("ORM flushes (rows added to the session; UPDATE key)", Session, "flush"),
        ("render the answer", schemas.DataUseOut, "dump"),
        ("COMMIT", Session, "commit"),
    ]


@contextmanager
def patched(
    phases: Phases, path: Callable[[], list[tuple[str, Any, str]]] = hot_path
) -> Iterator[None]:
    """Install the timers (before the app exists: teardown hooks are bound at creation)."""
    # A function the code no longer has (renamed, inlined) is left out, not an error: its
    # time then shows in the phase that calls it, or in the rest.
    present = [(label, owner, name) for label, owner, name in path() if hasattr(owner, name)]
    saved = [(owner, name, getattr(owner, name)) for _, owner, name in present]
    for label, owner, name in present:
        setattr(owner, name, phases.wrap(label, getattr(owner, name)))
    try:
        yield
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


def time_phases(
    caller: Caller | UseCaller,
    phases: Phases,
    engine: Engine,
    count: int = PHASE_CHECKS,
    sql_label: str = "token + candidate SQL",
) -> list[dict[str, Any]]:
    """Return µs per request per phase, with the rest (framework) and SQL time alongside."""
    dialect = engine.dialect
    dialect.do_ping = phases.wrap("pool pre-ping (empty query)", dialect.do_ping)
    phases.reset()
    phases.enabled = True
    try:
        with sql_timer(engine) as sql_seconds, gc_timer() as gc_seconds:
            started = time.perf_counter()
            for _ in range(count):
                caller.single()
            total = time.perf_counter() - started
    finally:
        phases.enabled = False
        del dialect.do_ping
    rows = sorted(phases.seconds.items(), key=lambda item: -item[1])
    rest = total - sum(phases.seconds.values())
    rows.append(("Flask, Werkzeug, authlib, test client and the rest", rest))
    per = 1e6 / count
    found = [{"phase": name, "us": s * per, "share": s / total} for name, s in rows]
    found.append({"phase": "whole request (in-process)", "us": total * per, "share": 1.0})
    for name, seconds in (
        (f"of which inside cursor.execute ({sql_label})", sql_seconds[0]),
        ("of which garbage collection", gc_seconds[0]),
    ):
        found.append({"phase": name, "us": seconds * per, "share": seconds / total})
    return found


@contextmanager
def sql_timer(engine: Engine) -> Iterator[list[float]]:
    """Sum the time between SQLAlchemy's before/after cursor events into the yielded [s]."""
    total = [0.0]

    def before(conn, cursor, statement, parameters, context, executemany) -> None:
        conn.info["bench_started"] = time.perf_counter()

    def after(conn, cursor, statement, parameters, context, executemany) -> None:
        total[0] += time.perf_counter() - conn.info.pop("bench_started", time.perf_counter())

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield total
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


@contextmanager
def gc_timer() -> Iterator[list[float]]:
    """Sum the wall time of the garbage collector's runs into the yielded [s]."""
    spent = [0.0]
    started = [0.0]

    def callback(phase: str, _info: dict) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            spent[0] += time.perf_counter() - started[0]

    gc.callbacks.append(callback)
    try:
        yield spent
    finally:
        gc.callbacks.remove(callback)


# --- round trips (libpq trace) --------------------------------------------------------------


def classify(text: str) -> str:
    """Name a statement sent to PostgreSQL."""
    plain = " ".join(text.strip().strip('"').split())
    if plain in {"BEGIN", "ROLLBACK", "COMMIT"}:
        return plain
    if plain.startswith("DEALLOCATE"):
        return "DEALLOCATE"
    if plain in {";", "SELECT 1"}:
        return "pre-ping"  # SQLAlchemy's psycopg dialect pings with an empty query ";"
    if "oauth_tokens" in plain:
        return "token query"
    verb = plain.split(None, 1)[0].upper() if plain else "?"
    if verb == "SELECT" and "FROM consents" in plain:
        return "candidate query"
    if verb in {"SAVEPOINT", "RELEASE"}:
        return verb
    table = _TABLE.search(plain)
    if table and verb in {"SELECT", "INSERT", "UPDATE", "DELETE"}:
        return f"{verb} {table.group(1)}"
    return plain[:40]


def _messages(trace: str) -> Iterator[str]:
    """Yield the trace's messages, each whole (a statement's newlines continue its line)."""
    message = ""
    for line in trace.splitlines():
        if _MESSAGE.match(line) and message:
            yield message
            message = line
        else:
            message = f"{message}\n{line}" if message else line
    if message:
        yield message


def round_trips(trace: str) -> Counter[str]:
    """Count client round trips (a simple Query, or an extended-protocol Sync) by statement."""
    found: Counter[str] = Counter()
    named: dict[str, str] = {}
    current = ""
    parsed_only = False
    for line in _messages(trace):
        parts = line.split("\t", 3)
        if len(parts) < 3 or parts[0] != "F":
            continue
        kind, rest = parts[2], parts[3] if len(parts) > 3 else ""
        if kind == "Query":
            found[classify(rest)] += 1
        elif kind == "Parse":
            name, _, text = rest.strip().partition(" ")
            current, parsed_only = text, True
            if name != '""':
                named[name] = text
        elif kind == "Bind":
            statement = rest.split(" ")[2] if len(rest.split(" ")) > 2 else '""'
            current, parsed_only = named.get(statement, current), False
        elif kind == "Sync":
            found[classify(current) + (" (prepare)" if parsed_only else "")] += 1
    return found


class Tracer:
    """Turns on libpq's protocol trace for every new pooled connection, one file each."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.traced: list[Any] = []

    def on_connect(self, dbapi_connection, _record) -> None:
        """Trace a new connection into a file of its own."""
        handle, _ = tempfile.mkstemp(dir=self.directory, suffix=".trace")
        pgconn = dbapi_connection.pgconn
        pgconn.trace(handle)
        pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        self.traced.append(pgconn)

    def flush(self) -> None:
        """Stop tracing (which flushes each trace) on the connections still open."""
        for pgconn in self.traced:
            if pgconn.status == pq.ConnStatus.OK:
                pgconn.untrace()

    def text(self) -> str:
        """Return every trace written."""
        return "".join(p.read_text(errors="replace") for p in Path(self.directory).iterdir())


def traced_run(caller: Caller | UseCaller, engine: Engine, checks: int) -> tuple[Counter[str], int]:
    """Run checks on fresh, traced connections; return round trips by kind and checkouts."""
    checkouts = [0]

    def on_checkout(*_args) -> None:
        checkouts[0] += 1

    from server.db import reads

    with tempfile.TemporaryDirectory(prefix="bench-pqtrace-") as directory:
        tracer = Tracer(directory)
        reads.release()  # the hot path keeps its connection: start it afresh, traced
        engine.dispose()
        event.listen(engine, "connect", tracer.on_connect)
        event.listen(engine.pool, "checkout", on_checkout)
        try:
            for _ in range(checks):
                caller.single()
            tracer.flush()
            reads.release()
        finally:
            event.remove(engine, "connect", tracer.on_connect)
            event.remove(engine.pool, "checkout", on_checkout)
            engine.dispose()
        return round_trips(tracer.text()), checkouts[0]


def count_round_trips(caller: Caller | UseCaller, engine: Engine) -> dict[str, Any]:
    """Return the round trips per single check in steady state, by kind."""
    short, short_checkouts = traced_run(caller, engine, TRACE_SHORT)
    long, long_checkouts = traced_run(caller, engine, TRACE_LONG)
    span = TRACE_LONG - TRACE_SHORT
    by_kind = {k: (long[k] - short[k]) / span for k in sorted(long) if long[k] != short[k]}
    pings = by_kind.get("pre-ping", 0.0)
    return {
        "per_check": sum(by_kind.values()),
        "by_kind": by_kind,
        "checkouts_per_check": (long_checkouts - short_checkouts) / span,
        "pings_per_check": pings,
        "method": "libpq protocol trace: Query and Sync messages, long run minus short run",
    }


# --- cProfile -------------------------------------------------------------------------------


def _where(filename: str, line: int, function: str) -> str:
    if filename == "~":
        return function
    for marker in ("site-packages/", f"{ROOT}/", "lib/python3"):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            break
    return f"{function} ({filename}:{line})"


def _package(filename: str, function: str) -> str:
    text = function if filename == "~" else filename
    for name in ("consent_api", "server", "sqlalchemy", "psycopg", "flask", "werkzeug", "authlib"):
        if f"/{name}/" in text or f"{name}." in text or f"{name}_" in text:
            return name
    if "json" in text:
        return "json"
    return "builtins (C)" if filename == "~" else "stdlib and others"


def _frame_lines(frames: list, units: int) -> list[str]:
    ms = 1000 / units
    lines = [f"{'cum ms':>9} {'self ms':>9} {'calls':>8}  function"]
    for (filename, line, function), (_, calls, own, cumulative, _) in frames:
        lines.append(
            f"{cumulative * ms:9.3f} {own * ms:9.3f} {calls / units:8.1f}  "
            f"{_where(filename, line, function)}"
        )
    return lines


def profile_text(title: str, profiler: cProfile.Profile, units: int, unit: str) -> str:
    """Return the top frames by cumulative and by self time, and self time by package."""
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    frames = [
        (key, value)
        for key, value in stats.items()
        if not any(hidden in key[0] or hidden in key[2] for hidden in HIDDEN)
    ]
    by_cumulative = sorted(frames, key=lambda item: -item[1][3])[:TOP]
    by_self = sorted(frames, key=lambda item: -item[1][2])[:TOP_SELF]
    ms = 1000 / units
    lines = [
        title,
        f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ} · {units:,} x {unit} · times per {unit}; "
        "cProfile inflates Python-heavy frames, the test client replaces gunicorn",
        "",
        f"top {TOP} by cumulative time:",
        *_frame_lines(by_cumulative, units),
        "",
        f"top {TOP_SELF} by self time:",
        *_frame_lines(by_self, units),
    ]
    by_package: Counter[str] = Counter()
    for (filename, _, function), (_, _, own, _, _) in stats.items():
        if not any(hidden in filename for hidden in HIDDEN):
            by_package[_package(filename, function)] += own
    spent = sum(by_package.values()) or 1.0
    lines += ["", "self time by package:"]
    for name, own in by_package.most_common():
        lines.append(f"{own * ms:9.3f} ms  {own / spent:5.1%}  {name}")
    return "\n".join(lines) + "\n"


def profiled(action: Callable[[], None], times: int) -> cProfile.Profile:
    """Run the action `times` times under cProfile."""
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        for _ in range(times):
            action()
    finally:
        profiler.disable()
    return profiler


def write_profile(name: str, text: str) -> str:
    """Write one profile file under bench/results; return its path relative to the repo."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"profile-{name}.txt"
    path.write_text(text)
    return str(path.relative_to(ROOT))


def batch_latency_ms(caller: Caller, count: int = 5) -> tuple[float, float]:
    """Return the median in-process ms of one batch (no profiler) and its mean ms of GC."""
    timings = []
    with gc_timer() as gc_seconds:
        for _ in range(count):
            started = time.perf_counter()
            caller.batch()
            timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings), gc_seconds[0] * 1000 / count


def candidate_plan(engine: Engine, send: Callable[[], None]) -> str:
    """Return EXPLAIN (ANALYZE, BUFFERS) of the candidate query one request sends."""
    captured: list[tuple[str, Any]] = []

    def grab(conn, cursor, statement, parameters, context, executemany) -> None:
        if "FROM consents" in statement:
            captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", grab)
    try:
        send()
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    if not captured:
        return "(no candidate query was seen)\n"
    statement, parameters = captured[0]
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters
        ).all()
    return "".join(_cut(row[0]) + "\n" for row in rows)


def _cut(line: str) -> str:
    return line if len(line) <= PLAN_WIDTH else line[: PLAN_WIDTH - 3] + "..."


def run(url: str, files: CheckFiles) -> dict[str, Any]:
    """Profile single checks and batches in-process; return what the report shows."""
    phases = Phases()
    with patched(phases):
        app = make_app(url)
        engine = engine_of(app)
        client = app.test_client()
        caller = Caller(client, org_headers(client), files)
        for _ in range(100):
            caller.single()
        found: dict[str, Any] = {"round_trips": count_round_trips(caller, engine)}
        found["phases"] = time_phases(caller, phases, engine)
        single = profiled(caller.single, SINGLE_CHECKS)
        single_plan = candidate_plan(engine, caller.single)
        batch_ms, gc_ms = batch_latency_ms(caller)
        found["batch_ms_in_process"] = round(batch_ms, 2)
        found["batch_gc_ms_in_process"] = round(gc_ms, 2)
        batch = profiled(caller.batch, BATCHES)
        batch_plan = candidate_plan(engine, caller.batch)
    size = files.batch_size
    title = f"POST {BATCH_PATH} ({size:,} checks each)"
    found["files"] = [
        write_profile(
            "consent-check",
            profile_text(f"POST {SINGLE_PATH} (single check)", single, SINGLE_CHECKS, "check")
            + "\ncandidate query plan:\n"
            + single_plan,
        ),
        write_profile(
            "consent-check-batch",
            profile_text(title, batch, BATCHES, "batch")
            + f"\nin-process median of one batch without the profiler: {batch_ms:.1f} ms, "
            f"of which garbage collection {gc_ms:.1f} ms on average\n\ncandidate query plan:\n"
            + batch_plan,
        ),
    ]
    print(f"bench: profile written to {', '.join(found['files'])}", file=sys.stderr, flush=True)
    return found


def run_uses(url: str, files: UseFiles, *, paid: bool = False) -> dict[str, Any]:
    """Profile data uses (with `paid`: paid ones) in-process; return what the report shows."""
    from bench import paid as paying
    from bench.settings import PG_URL

    phases = Phases()
    fees = paying.fees(PG_URL, files.paid_bodies) if paid else contextlib.nullcontext()
    with patched(phases, use_path), fees:
        app = make_app(url)
        engine = engine_of(app)
        client = app.test_client()
        caller = UseCaller(client, org_headers(client), files, paid=paid)
        for _ in range(50):
            caller.single()
        found: dict[str, Any] = {"round_trips": count_round_trips(caller, engine)}
        found["phases"] = time_phases(caller, phases, engine, PHASE_USES, "every statement")
        profile = profiled(caller.single, PROFILED_USES)
    found["answers"] = {str(status): n for status, n in sorted(caller.statuses.items())}
    if paid:
        title = f"POST {USE_PATH} (one paid data use: + ledger posting, wallet, lot)"
        name = "data-use-paid"
    else:
        title = f"POST {USE_PATH} (one data use, its notice and outbox row)"
        name = "data-use"
    found["files"] = [write_profile(name, profile_text(title, profile, PROFILED_USES, "use"))]
    print(f"bench: profile written to {', '.join(found['files'])}", file=sys.stderr, flush=True)
    return found
