"""The audit log at scale: a database of its own holding the bench's consent dataset and
`BENCH_AUDIT_ENTRIES` (10,000,000) audit entries with their Merkle tree, built once and
reused, for the `audit-scale` and `audit-lag` phases (bench/auditscale.py, auditlag.py).

The database, `consent_bench_audit`, is made as `consent_bench` is (migrated with
`consent-wallet db upgrade`, the demo seed, `bench/generate.py`'s patients and consents, so
the data-use load of `audit-lag` has its patients and consents here), then the log is
loaded. The wrk scenarios and the other phases never touch it, nor it them.

Each generated entry is what `audit.log.record` writes, in the proportions a year of the
service would: data uses (permitted, refused, emergency) by the organisation that made them,
their ledger postings by the system, consent changes by the patient (expiries by the system),
consent requests' steps, redemptions and a few operator actions; for patients drawn (with a
skew, a few patients have many entries) from the dataset's 200,000. Subjects name the ids an
entry concerns. The payload is sealed in the app (AES-GCM under the patient's key, with its
salt): here it is random bytes of the size the app's sealed payload of that kind has
(nonce, salt, canonical JSON, tag), and the commitment random too, since without a key
neither can be told from the real thing; no patient key is stored, so the payloads read as
erased ones do. What the tree commits to is real: each leaf is `merkle.leaf_hash` of the
entry's canonical data as `entries.Entry.leaf_data()` makes it (made here with sorted-key
JSON, the same bytes for these values, and checked against `Entry.leaf_data()` itself for
one entry in 64: RFC 8785's general serialiser was three quarters of the time), each node
`merkle.node_hash`, so `consent-wallet audit verify` rebuilds every one of them from the rows.

The tree is stored exactly as the sequencer leaves it: a leaf per entry (in recorded order),
every complete perfect subtree of height >= 1, and a signed tree head (`checkpoints.sign`,
the bench's signing key) after every batch, batches of 1 to 1,000 entries (the job's
AUDIT_BATCH) as the sequencer takes them under load. The work is split in aligned chunks of
2^16 leaves hashed on every core (multiprocessing): a chunk yields its COPY lines, its nodes
up to height 16 and, for each tree head ending in it, the hash of its leaves before that
end; the main process joins the chunks' roots into the higher nodes and each head's root.
Leaves, nodes, heads and entries stream at once through four COPY ... (FREEZE) connections,
their keys and indexes dropped and rebuilt after. The entries the demo seed queued are then
sequenced by the real sequencer on top (`sequencer.sequence`), and checked: the roots of
the heads over the first leaves against `merkle.MemoryTree` of the stored rows' leaves, and
inclusion proofs through `proofs.inclusion` with `merkle.verify_inclusion`.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

from bench import generate
from bench.generate import NULL, Clock, _copy_statement
from bench.settings import ADMIN_URL, BenchError
from consent_api.audit import entries, merkle

# BENCH_AUDIT_DATABASE names another (a small one while developing); never the wrk
# scenarios' database nor the tests'.
DATABASE = os.environ.get("BENCH_AUDIT_DATABASE", "").strip() or "consent_bench_audit"
if DATABASE in {"consent_bench", "consent_bench_ledger", "test"}:
    raise BenchError(
        f"BENCH_AUDIT_DATABASE may not be {DATABASE!r}: it needs a database of its own"
    )
DATABASE_URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{DATABASE}"
URL = f"postgresql://postgres@127.0.0.1:5432/{DATABASE}"
GENERATOR = 1  # bump whenever the generated log changes: a cached one is then rebuilt
SEED = 20_261_201
CHUNK_BITS = 16
CHUNK = 1 << CHUNK_BITS  # leaves per task: every perfect subtree below height 16 is in one
CHECK_EVERY = 64  # one leaf's data in CHECK_EVERY is made again by Entry.leaf_data() too
MAX_BATCH = 1000  # the worker's AUDIT_BATCH: entries per tree head at most
YEAR = 365 * 86_400
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
TABLES = ("audit_entries", "audit_leaves", "audit_nodes", "audit_tree_heads")
# What the data-use reset keeps here (bench/usedata.py empties them in consent_bench).
LOG_TABLES = (*TABLES, "audit_queue", "audit_keys")
ENTRY_COLUMNS = (
    "id",
    "patient_id",
    "kind",
    "actor_type",
    "actor_id",
    "subjects",
    "occurred_at",
    "commitment",
    "payload",
    "recorded_at",
)
NEWLINE = b"\n"
SEALING = 12 + 16 + 16  # nonce, GCM tag, salt around the canonical payload

# kind, share, actor (patient, organisation, system, operator), subjects beside the patient,
# the canonical payload's bytes (low, high): the sizes of the app's payloads of that kind.
KINDS = (
    ("data_use.permitted", 0.62, "organisation", ("data_use", "org"), (330, 470)),
    ("data_use.refused", 0.03, "organisation", ("data_use", "org"), (300, 400)),
    ("data_use.emergency", 0.005, "organisation", ("data_use", "org"), (300, 400)),
    ("points.posted", 0.15, "organisation", ("transaction", "data_use"), (560, 820)),
    ("consent.granted", 0.07, "patient", ("consent", "version"), (700, 1000)),
    ("consent.amended", 0.025, "patient", ("consent", "version"), (700, 1000)),
    ("consent.paused", 0.01, "patient", ("consent", "version"), (700, 1000)),
    ("consent.resumed", 0.008, "patient", ("consent", "version"), (700, 1000)),
    ("consent.revoked", 0.012, "patient", ("consent", "version"), (720, 1020)),
    ("consent.expired", 0.015, "system", ("consent", "version"), (700, 1000)),
    ("consent_request.filed", 0.03, "organisation", ("request", "org"), (500, 820)),
    ("consent_request.approved", 0.018, "patient", ("request", "org"), (500, 820)),
    ("consent_request.denied", 0.006, "patient", ("request", "org"), (500, 820)),
    ("consent_request.lapsed", 0.004, "system", ("request", "org"), (500, 820)),
    ("points.redeemed", 0.004, "patient", ("redemption", "reward", "transaction"), (40, 90)),
    ("patient.erased", 0.0005, "patient", (), (40, 50)),
    ("org.terms_changed", 0.0005, "operator", ("org",), (120, 260)),
)

Say = Callable[[str], None]

# Set in each pool process (fork) by _start: the patients and organisations drawn on.
_PATIENTS: list[str] = []
_ORGS: list[str] = []
_FIRST_US = 0
_STEP_US = 1.0


def stamp_of(entries_wanted: int, revision: str, spec: generate.Spec) -> dict[str, Any]:
    """What identifies an audit dataset: its size, generator, schema and consent dataset."""
    return {
        **spec.stamp(revision),
        "audit_generator": GENERATOR,
        "audit_seed": SEED,
        "audit_entries": entries_wanted,
    }


def cached(wanted: dict[str, Any]) -> dict[str, Any] | None:
    """Return the recorded stamp of an audit database holding the dataset wanted, or None."""
    stamp = generate.read_stamp(ADMIN_URL, DATABASE)
    if stamp is None or generate.current_revision(URL) != wanted["revision"]:
        return None
    return stamp if all(stamp.get(key) == value for key, value in wanted.items()) else None


def _micros(when: datetime) -> int:
    delta = when - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _at(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


def _start(patients: list[str], orgs: list[str], first_us: int, step_us: float) -> None:
    global _PATIENTS, _ORGS, _FIRST_US, _STEP_US
    _PATIENTS, _ORGS, _FIRST_US, _STEP_US = patients, orgs, first_us, step_us


def _kind_table() -> list[tuple]:
    """The kinds with their cumulative shares, for one draw each."""
    total, table = 0.0, []
    for kind, share, actor, subjects, sizes in KINDS:
        total += share
        table.append((total, kind, actor, subjects, sizes))
    return table


_KIND_TABLE = _kind_table()


def _bytea(value: bytes) -> str:
    """A bytea in COPY's text format."""
    return "\\\\x" + value.hex()


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def _patient(rng: random.Random) -> str:
    """A patient, skewed: a few have many entries (the square of a uniform draw)."""
    draw = rng.random()
    return _PATIENTS[int(draw * draw * len(_PATIENTS))]


def leaf_data(fields: dict[str, Any]) -> bytes:
    """`Entry.leaf_data()` without the general RFC 8785 serialiser: for these values (ASCII
    strings without escapes, small integers) sorted keys and no spaces are the same bytes,
    which `chunk` checks against `Entry.leaf_data()` for one entry in CHECK_EVERY."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def _one(rng: random.Random, index: int) -> tuple[str, bytes]:
    """One entry at leaf `index`: its COPY line (its id first) and its leaf hash."""
    draw = rng.random() * _KIND_TABLE[-1][0]
    _, kind, actor_type, names, (low, high) = next(row for row in _KIND_TABLE if row[0] >= draw)
    org = _ORGS[int(rng.random() * len(_ORGS))]
    patient = None if actor_type == "operator" else _patient(rng)
    actor_id = {"patient": patient, "organisation": org, "operator": None, "system": None}[
        actor_type
    ]
    subjects = {} if patient is None else {"patient": patient}
    for name in names:
        if name == "org":
            subjects[name] = org
        elif name == "version":
            subjects[name] = str(1 + int(rng.random() ** 3 * 4))
        else:
            subjects[name] = _uuid(rng)
    when = _at(_FIRST_US + int(index * _STEP_US))
    commitment = rng.randbytes(32)
    payload = rng.randbytes(SEALING + low + int(rng.random() * (high - low)))
    fields = {
        "v": entries.VERSION,
        "kind": kind,
        "actor": {"type": actor_type, "id": actor_id},
        "subjects": subjects,
        "occurred_at": entries.moment(when),
        "payload": commitment.hex(),
    }
    data = leaf_data(fields)
    if index % CHECK_EVERY == 0:
        entry = entries.Entry(kind, actor_type, actor_id, subjects, when, commitment)
        if entry.leaf_data() != data:
            raise BenchError(f"leaf {index}: {data!r} is not {entry.leaf_data()!r}")
    stamp = when.isoformat()
    line = (
        f"{_uuid(rng)}\t{patient or NULL}\t{kind}\t{actor_type}\t{actor_id or NULL}\t"
        f"{json.dumps(subjects, separators=(',', ':'))}\t{stamp}\t{_bytea(commitment)}\t"
        f"{_bytea(payload)}\t{stamp}\n"
    )
    return line, merkle.leaf_hash(data)


def chunk(task: tuple[int, int, list[int]]) -> tuple[str, str, str, bytes | None, list]:
    """Make the leaves [start, end) (start aligned to CHUNK): their entries', leaves' and
    nodes' COPY lines, the chunk's root if whole, and for each head size in it the hash of
    the leaves from start to that size."""
    start, end, heads = task
    rng = random.Random(SEED * 1_000_003 + (start >> CHUNK_BITS))
    entry_lines, leaf_lines, hashes = [], [], []
    for index in range(start, end):
        line, leaf = _one(rng, index)
        entry_lines.append(line)
        hashes.append(leaf)
        entry_id = line[:36]
        leaf_lines.append(f"{index}\t{entry_id}\t{_bytea(leaf)}\n")
    levels = [hashes]
    node_lines = []
    while len(levels[-1]) > 1:
        below, height = levels[-1], len(levels)
        level = [merkle.node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
        base = start >> height
        node_lines += [f"{height}\t{base + i}\t{_bytea(h)}\n" for i, h in enumerate(level)]
        levels.append(level)

    def perfect(height: int, position: int) -> bytes:
        return levels[height][position - (start >> height)]

    tails = [(size, merkle.range_hash(perfect, start, size)) for size in heads]
    whole = levels[-1][0] if end - start == CHUNK else None
    return "".join(entry_lines), "".join(leaf_lines), "".join(node_lines), whole, tails


def head_sizes(total: int) -> Iterator[int]:
    """The tree sizes after each sequencer batch: batches of 1 to MAX_BATCH, the last ending
    at `total`."""
    rng = random.Random(SEED + 1)
    size = 0
    while size < total:
        size = min(total, size + 1 + int(rng.random() * MAX_BATCH))
        yield size


class Frontier:
    """The perfect subtrees of height >= CHUNK_BITS closed so far, highest first: the chunks'
    roots joined into the higher nodes."""

    def __init__(self) -> None:
        self.open: list[tuple[int, bytes]] = []

    def push(self, digest: bytes, end: int) -> list[tuple[int, int, bytes]]:
        """Add a whole chunk's root (the chunk ends before leaf `end`); return the nodes
        (height, position, hash) it completes."""
        self.open.append((CHUNK_BITS, digest))
        done = []
        while len(self.open) > 1 and self.open[-1][0] == self.open[-2][0]:
            (height, right), (_, left) = self.open.pop(), self.open.pop()
            merged = merkle.node_hash(left, right)
            self.open.append((height + 1, merged))
            done.append((height + 1, (end >> (height + 1)) - 1, merged))
        return done

    def root_with(self, tail: bytes) -> bytes:
        """The root of the tree made of these subtrees and then `tail` (RFC 9162: the
        perfect subtrees of a tree, joined right to left)."""
        digest = tail
        for _, left in reversed(self.open):
            digest = merkle.node_hash(left, digest)
        return digest


def draw_on(url: str) -> tuple[list[str], list[str]]:
    """The patients and active organisations of the consent dataset, in a stable order."""
    with psycopg.connect(url) as connection:
        patients = [r[0] for r in connection.execute("SELECT id::text FROM patients ORDER BY id")]
        orgs = [
            r[0]
            for r in connection.execute(
                "SELECT id::text FROM organisations WHERE status = 'active' ORDER BY id"
            )
        ]
    if not patients or not orgs:
        raise BenchError(f"{DATABASE} has no patients or organisations to draw entries on")
    return patients, orgs


def _set_aside(connection: psycopg.Connection) -> bytes:
    """The entries already written (the demo seed's, queued), as COPY text, to put back
    after the generated ones (COPY ... FREEZE needs the table emptied in its transaction)."""
    kept = bytearray()
    with connection.cursor().copy("COPY audit_entries TO STDOUT") as out:
        for block in out:
            kept += block
    leaves = connection.execute("SELECT count(*) FROM audit_leaves").fetchone()[0]
    if leaves:
        raise BenchError(f"{DATABASE} already has {leaves} leaves: it should be freshly built")
    return bytes(kept)


def load_log(total: int, say: Say) -> dict[str, Any]:
    """Generate `total` entries with their tree into the audit tables; return the counts and
    the tree heads to sign (size, root, time), which `write_heads` writes."""
    clock = Clock(say)
    patients, orgs = draw_on(URL)
    now_us = _micros(datetime.now(UTC)) - 3_600_000_000  # an hour before the build
    first_us = now_us - YEAR * 1_000_000
    step_us = YEAR * 1_000_000 / total
    sizes = list(head_sizes(total))
    tasks, position = [], 0
    for start in range(0, total, CHUNK):
        end = min(total, start + CHUNK)
        mine = []
        while position < len(sizes) and sizes[position] <= end:
            mine.append(sizes[position])
            position += 1
        tasks.append((start, end, mine))
    frontier, heads, higher = Frontier(), [], 0
    columns = (ENTRY_COLUMNS, ("leaf_index", "entry_id", "hash"), ("height", "position", "hash"))
    workers = max(1, len(os.sched_getaffinity(0)))
    # The pool is forked first, before this process opens a connection or starts a thread.
    with multiprocessing.get_context("fork").Pool(
        workers, initializer=_start, initargs=(patients, orgs, first_us, step_us)
    ) as pool:
        with psycopg.connect(URL) as connection:
            kept = _set_aside(connection)
            # An entry queues itself (a trigger, migration 0025): these are in the tree already.
            connection.execute("ALTER TABLE audit_entries DISABLE TRIGGER audit_entries_enqueue")
            ddl = generate.capture_ddl(connection, TABLES)
            generate.drop_ddl(connection, ddl)
            connection.commit()
        clock.lap(f"setting aside {kept.count(NEWLINE)} entries, dropping keys")
        with ExitStack() as stack:
            streams = [stack.enter_context(psycopg.connect(URL)) for _ in TABLES[:3]]
            for connection, table in zip(streams, TABLES, strict=False):
                connection.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(table)))
            copies = [
                stack.enter_context(connection.cursor().copy(_copy_statement(t, c, freeze=True)))
                for connection, t, c in zip(streams, TABLES, columns, strict=False)
            ]
            for (start, end, _), made in zip(tasks, pool.imap(chunk, tasks), strict=True):
                entry_text, leaf_text, node_text, whole, tails = made
                copies[0].write(entry_text)
                copies[1].write(leaf_text)
                copies[2].write(node_text)
                for size, tail in tails:
                    # the sequencer stamps a head when its run starts, just after the batch
                    created = _at(first_us + int((size - 1) * step_us) + 400_000)
                    heads.append((size, frontier.root_with(tail), created))
                if whole is not None:
                    done = frontier.push(whole, end)
                    higher += len(done)
                    copies[2].write("".join(f"{h}\t{p}\t{_bytea(d)}\n" for h, p, d in done))
                if (start >> CHUNK_BITS) % 16 == 15:
                    say(f"audit log: {end:,} of {total:,} entries ({clock.total:.0f}s)")
            # leaving the block ends each COPY, then commits its connection
        clock.lap(f"COPY {total:,} entries, their leaves and nodes")
    with psycopg.connect(URL) as connection:
        connection.execute("TRUNCATE audit_tree_heads")
        if kept:  # queued already
            with connection.cursor().copy("COPY audit_entries FROM STDIN") as into:
                into.write(kept)
        connection.execute("ALTER TABLE audit_entries ENABLE TRIGGER audit_entries_enqueue")
        generate.restore_ddl(connection, ddl)
        connection.commit()
    clock.lap("putting the demo's entries back, rebuilding keys and indexes")
    return {"heads": heads, "clock": clock}


def write_heads(heads: list[tuple[int, bytes, datetime]], sign: Callable[..., str]) -> int:
    """Sign the tree heads (`checkpoints.sign`, in an app context) and COPY them."""
    lines = [
        f"{size}\t{_bytea(root)}\t{created.isoformat()}\t{sign(size, root, created)}\n"
        for size, root, created in heads
    ]
    with psycopg.connect(URL) as connection:
        with connection.cursor().copy(
            _copy_statement(
                "audit_tree_heads", ("tree_size", "root", "created_at", "signed"), freeze=False
            )
        ) as copy:
            copy.write("".join(lines))
        connection.commit()
    return len(lines)
