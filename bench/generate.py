"""The bench dataset: organisations, patients, consents and their versions, and research
preferences (bench/researchprefs.py), loaded by COPY.

Deterministic for a given size (one seeded RNG; dates are relative to the load time), and
cached between runs: the database's comment records what was loaded, and a run asking for
the same size on the same schema revision reuses it (BENCH_REGENERATE=1 rebuilds).

Speed: the consents' and versions' indexes and foreign keys are dropped, both tables are
filled at once by two COPY ... FREEZE streams fed from one generating loop, then the indexes
and constraints are rebuilt exactly as they were (from pg_get_*def) and the tables analysed.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from json.encoder import encode_basestring_ascii
from typing import Any

import psycopg
from psycopg import sql

from bench import researchprefs
from bench.settings import PSEUDONYM_KEY
from consent_api.catalog import ALL, CATEGORIES, SENSITIVE
from consent_api.consents.summary import summarise
from consent_api.links import refs
from consent_api.wording import grantee_phrase
from server.demo import DEMO

# Bump whenever the generated data changes: cached datasets are then rebuilt. 3: research
# preferences, and the demo seed's own consents kept through the load (the generated
# consents are generator 2's, unchanged).
GENERATOR = 3
SEED = 20_261_128
NAMESPACE = uuid.UUID("6f1d7f0e-6c1b-4c57-9a53-5b3c0a1e7d42")
TEMPLATES_PER_GRANTEE = 60
CHUNK = 2_000  # consents per COPY write
DAY = 86_400
YEAR = 365 * DAY
NO_LOGIN = "!bench: this patient never logs in"
OPEN_END = ", until you withdraw it."
NULL = "\\N"  # COPY's text format
LOADED = ("consents", "consent_versions")

Say = Callable[[str], None]

# Organisations besides the demo hospital and demo pharma (which `consent-wallet demo` makes),
# with the share of by-id grants each receives. The demo hospital gets the largest share so
# the demo token's checks find real consents.
DEMO_WEIGHTS = {"hospital": 0.18, "pharma": 0.04}
EXTRA_ORGS = (
    ("Northgate General Hospital", "hospital", 0.07),
    ("Riverside University Hospital", "hospital", 0.07),
    ("St. Anne Children's Hospital", "hospital", 0.07),
    ("Lakeside Community Hospital", "hospital", 0.07),
    ("Hillcrest Cancer Centre", "hospital", 0.07),
    ("Eastfield Rehabilitation Clinic", "hospital", 0.07),
    ("Helix Therapeutics", "pharma", 0.04),
    ("Nordvale Pharma", "pharma", 0.04),
    ("Aster Biologics", "pharma", 0.04),
    ("National Cohort Study", "research", 0.028),
    ("City University Health Lab", "research", 0.028),
    ("Genome Atlas Institute", "research", 0.028),
    ("Public Health Observatory", "research", 0.028),
    ("Sleep and Heart Registry", "research", 0.028),
    ("Mutual Health Insurance", "insurer", 0.025),
    ("CareShield Insurance", "insurer", 0.025),
    ("Northern Health Fund", "insurer", 0.025),
    ("Unity Health Cover", "insurer", 0.025),
)
BY_TYPE_SHARE = 0.45  # the rest name one organisation
TYPE_WEIGHTS = {"hospital": 0.55, "research": 0.20, "pharma": 0.12, "insurer": 0.13}
STATUS_ROLL = (("active", 0.88), ("paused", 0.93), ("revoked", 1.0))  # cumulative
VALID_UNTIL_SHARE = 0.35
DURATIONS_DAYS = (90, 365, 730, 1095, 1825)
FUTURE_START_SHARE = 0.015
PERIOD_SHARE = 0.30
AMENDED_SHARE = 0.12
REVOKE_REASONS = (
    None,
    "I changed my mind",
    "No longer a patient there",
    "Moved to another provider",
    "Privacy concerns",
)


@dataclass(frozen=True)
class Profile:
    """What consents to one type of organisation typically cover."""

    categories: tuple[str, ...]
    all_share: float
    sensitive_share: float
    purposes: tuple[tuple[str, float], ...]
    actions: tuple[tuple[str, float], ...]
    exclusion_share: float
    max_uses_share: float
    fees: tuple[int, ...]


_CLINICAL = tuple(c for c in CATEGORIES if c not in SENSITIVE and c != "wearables")
PROFILES = {
    "hospital": Profile(
        _CLINICAL,
        all_share=0.35,
        sensitive_share=0.15,
        purposes=(("TREAT", 0.9), ("ETREAT", 0.6), ("HOPERAT", 0.3), ("HPAYMT", 0.25)),
        actions=(("access", 0.95), ("use", 0.7), ("disclose", 0.4), ("collect", 0.3)),
        exclusion_share=0.12,
        max_uses_share=0.03,
        fees=(0,),
    ),
    "pharma": Profile(
        ("lab_results", "medications", "diagnoses", "genomics", "procedures", "wearables"),
        all_share=0.10,
        sensitive_share=0.10,
        purposes=(("CLINTRL", 0.7), ("HRESCH", 0.6), ("HMARKT", 0.15)),
        actions=(("use", 0.9), ("access", 0.6), ("collect", 0.2)),
        exclusion_share=0.20,
        max_uses_share=0.25,
        fees=(0, 5, 10, 25),
    ),
    "research": Profile(
        ("diagnoses", "lab_results", "genomics", "imaging", "wearables", "encounters"),
        all_share=0.15,
        sensitive_share=0.15,
        purposes=(("HRESCH", 0.95), ("PUBHLTH", 0.4), ("CLINTRL", 0.2)),
        actions=(("use", 0.9), ("access", 0.7), ("collect", 0.3)),
        exclusion_share=0.15,
        max_uses_share=0.20,
        fees=(0, 0, 5),
    ),
    "insurer": Profile(
        ("encounters", "procedures", "diagnoses", "medications", "demographics"),
        all_share=0.05,
        sensitive_share=0.0,
        purposes=(("HPAYMT", 0.95), ("HOPERAT", 0.4)),
        actions=(("access", 0.9), ("use", 0.5), ("disclose", 0.3)),
        exclusion_share=0.10,
        max_uses_share=0.10,
        fees=(0,),
    ),
}


@dataclass(frozen=True)
class Org:
    """An organisation of the dataset and its share of the by-id grants."""

    id: str
    name: str
    type: str
    weight: float


@dataclass(frozen=True)
class Template:
    """A consent's scope, shared by many consents; JSON fields are pre-rendered."""

    grantee_id: str | None
    grantee_type: str | None
    categories: str
    purposes: str
    actions: str
    exclusions: str  # as stored in consents.exclusions
    exclusions_out: str  # as a version's snapshot shows them
    max_uses: int | None
    fee: int
    summary: str  # ends with OPEN_END; dated consents replace it
    grantee_out: str


@dataclass(frozen=True)
class Spec:
    """The dataset asked for."""

    patients: int
    consents: int

    def stamp(self, revision: str) -> dict[str, Any]:
        """Return what identifies a dataset of this size on this schema revision."""
        return {
            "generator": GENERATOR,
            "seed": SEED,
            "patients": self.patients,
            "consents": self.consents,
            "revision": revision,
        }


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _copy_safe(text: str) -> str:
    """Return text that needs no escaping in COPY's text format (checked once per template)."""
    if any(ch in text for ch in "\\\t\n\r"):
        raise ValueError(f"not COPY-safe: {text!r}")
    return text


@lru_cache(maxsize=4096)
def _day(value: date) -> str:
    return f"{value.day} {value:%B %Y}"


@lru_cache(maxsize=8192)
def _iso_day(days: int) -> str:
    return datetime.fromtimestamp(days * DAY, UTC).strftime("%Y-%m-%dT")


_TIMES_OF_DAY = [
    f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}+00:00" for s in range(DAY)
]  # 86,400 strings: formatting a timestamp becomes two lookups


def _ts(epoch: int) -> str:
    """Return the ISO 8601 UTC timestamp of whole seconds since the epoch (as isoformat())."""
    days, seconds = divmod(epoch, DAY)
    return _iso_day(days) + _TIMES_OF_DAY[seconds]


def _below(rng: random.Random, n: int) -> int:
    """Return an int in [0, n): random.randrange's job, without its argument checks."""
    return int(rng.random() * n)


def _js(text: str | None) -> str:
    """Return a JSON string literal (or null), as json.dumps would."""
    return "null" if text is None else encode_basestring_ascii(text)


def _rand_uuid(rng: random.Random) -> str:
    """Return a random version-4 UUID drawn from the seeded RNG (reproducible)."""
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def _subset(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> list[str]:
    chosen = [code for code, share in weighted if rng.random() < share]
    return chosen or [weighted[0][0]]


def _categories(rng: random.Random, profile: Profile) -> list[str]:
    if rng.random() < profile.all_share:
        chosen = [ALL]
    else:
        chosen = rng.sample(profile.categories, rng.randint(1, min(4, len(profile.categories))))
    if rng.random() < profile.sensitive_share:
        chosen.append(rng.choice(sorted(SENSITIVE)))
    return list(dict.fromkeys(chosen))


def _exclusions(
    rng: random.Random, profile: Profile, scope: dict[str, list[str]], peers: list[Org]
) -> list[dict[str, list[str]]]:
    """Return 0 or 1 deny exceptions, stored the way normalise_exclusions() stores them."""
    if rng.random() >= profile.exclusion_share:
        return []
    roll = rng.random()
    if peers and roll < 0.35:
        return [{"org_ids": [rng.choice(peers).id]}]
    if roll < 0.65 and len(scope["purposes"]) > 1:
        return [{"purposes": [rng.choice(scope["purposes"])]}]
    named = [c for c in scope["data_categories"] if c != ALL] or list(_CLINICAL)
    return [{"data_categories": [rng.choice(named)], "purposes": ["HMARKT"]}]


def _exclusions_out(exclusions: list[dict[str, list[str]]]) -> list[dict[str, list[str]]]:
    keys = ("data_categories", "purposes", "org_ids")
    return [{key: list(e.get(key) or []) for key in keys} for e in exclusions]


def make_template(
    rng: random.Random, *, org: Org | None, org_type: str, orgs: list[Org]
) -> Template:
    """Draw one consent scope for a grantee (an organisation, or every one of a type)."""
    profile = PROFILES[org_type]
    scope = {
        "data_categories": _categories(rng, profile),
        "purposes": _subset(rng, profile.purposes),
        "actions": _subset(rng, profile.actions),
    }
    peers = [o for o in orgs if o.type == org_type] if org is None else []
    exclusions = _exclusions(rng, profile, scope, peers)
    max_uses = (
        rng.choice((1, 5, 10, 20, 50, 100)) if rng.random() < profile.max_uses_share else None
    )
    fee = rng.choice(profile.fees)
    names = {o.id: o.name for o in orgs}
    grantee = grantee_phrase(org_name=org.name if org else None, org_type=org_type)
    summary = summarise(
        {**scope, "max_uses": max_uses, "exclusions": exclusions, "fee_per_use": fee},
        grantee=grantee,
        org_names=names,
    )
    return Template(
        grantee_id=org.id if org else None,
        grantee_type=None if org else org_type,
        categories=_json(scope["data_categories"]),
        purposes=_json(scope["purposes"]),
        actions=_json(scope["actions"]),
        exclusions=_json(exclusions),
        exclusions_out=_json(_exclusions_out(exclusions)),
        max_uses=max_uses,
        fee=fee,
        summary=_copy_safe(summary),
        grantee_out=_copy_safe(
            _json(
                {
                    "org_id": org.id if org else None,
                    "org_type": None if org else org_type,
                    "org_name": org.name if org else None,
                }
            )
        ),
    )


def make_templates(rng: random.Random, orgs: list[Org]) -> tuple[list[Template], list[float]]:
    """Return every template and its weight (the grantee's share over its templates)."""
    templates, weights = [], []
    grantees = [(org, org.type, (1 - BY_TYPE_SHARE) * org.weight) for org in orgs]
    grantees += [(None, kind, BY_TYPE_SHARE * share) for kind, share in TYPE_WEIGHTS.items()]
    for org, org_type, share in grantees:
        for _ in range(TEMPLATES_PER_GRANTEE):
            templates.append(make_template(rng, org=org, org_type=org_type, orgs=orgs))
            weights.append(share / TEMPLATES_PER_GRANTEE)
    return templates, weights


@dataclass
class Rows:
    """The COPY lines of one consent and of its versions."""

    consent: str
    versions: list[str]


class ConsentMaker:
    """Turns a template and a patient into one consent's row and its version rows."""

    def __init__(self, rng: random.Random, now: int) -> None:
        self.rng = rng
        self.now = now

    def _validity(self, created: int) -> tuple[int, int | None]:
        rng = self.rng
        valid_from = created
        if rng.random() < FUTURE_START_SHARE:
            valid_from = self.now + (1 + _below(rng, 90)) * DAY
        valid_until = None
        if rng.random() < VALID_UNTIL_SHARE:
            valid_until = valid_from + DURATIONS_DAYS[_below(rng, len(DURATIONS_DAYS))] * DAY
        return valid_from, valid_until

    def _period(self) -> tuple[date | None, date | None]:
        rng = self.rng
        if rng.random() >= PERIOD_SHARE:
            return None, None
        start = date(rng.randint(2005, 2022), 1, 1)
        end = date(start.year + rng.randint(1, 8), 12, 31) if rng.random() < 0.5 else None
        return (None, end) if rng.random() < 0.1 else (start, end)

    def _status(self, valid_until: int | None) -> str:
        roll = self.rng.random()
        status = "revoked"
        for name, edge in STATUS_ROLL:
            if roll < edge:
                status = name
                break
        if status != "revoked" and valid_until is not None and valid_until <= self.now:
            return "expired"  # the sweep job has run
        return status

    def _changes(self, status: str, created: int, valid_until: int | None) -> list[tuple[str, int]]:
        """Return (change, when) for every version, oldest first."""
        rng = self.rng
        last = self.now if valid_until is None else min(self.now, valid_until)
        end = created + int(rng.random() * max(1, last - created))
        changes = [("created", created)]
        if rng.random() < AMENDED_SHARE:
            changes.append(("amended", created + int(rng.random() * max(1, end - created))))
        if status == "expired":
            changes.append(("expired", min(self.now, (valid_until or self.now) + _below(rng, 600))))
        elif status != "active":
            changes.append((status, end))
        return changes

    def make(self, template: Template, patient_id: str) -> Rows:
        """Return the rows of one consent granted by this patient with this scope."""
        rng = self.rng
        consent_id = _rand_uuid(rng)
        created = self.now - 3600 - int(rng.random() * 3 * YEAR)
        valid_from, valid_until = self._validity(created)
        start, end = self._period()
        status = self._status(valid_until)
        changes = self._changes(status, created, valid_until)
        summary = template.summary
        if start or end or valid_until:
            summary = summary.replace(OPEN_END, _dated(start, end, valid_until), 1)
        revoked = status == "revoked"
        fields = {
            "id": consent_id,
            "vf": _ts(valid_from),
            "vu": None if valid_until is None else _ts(valid_until),
            "start": start,
            "end": end,
            "use_count": _below(rng, (template.max_uses or 20) + 1),
            "summary": summary,
            "status": status,
            "created": _ts(created),
            "revoked_at": _ts(changes[-1][1]) if revoked else None,
            "reason": rng.choice(REVOKE_REASONS) if revoked else None,
        }
        versions = [
            _version_line(template, fields, number, change, when, final=number == len(changes))
            for number, (change, when) in enumerate(changes, start=1)
        ]
        consent = _consent_line(
            template, patient_id, fields, version=len(changes), updated=_ts(changes[-1][1])
        )
        return Rows(consent, versions)


def _consent_line(
    template: Template, patient_id: str, fields: dict[str, Any], *, version: int, updated: str
) -> str:
    """Return one consents COPY line, in CONSENT_COLUMNS order."""
    start, end, max_uses = fields["start"], fields["end"], template.max_uses
    values = (
        fields["id"],
        patient_id,
        template.grantee_id or NULL,
        template.grantee_type or NULL,
        template.categories,
        template.purposes,
        template.actions,
        str(start) if start else NULL,
        str(end) if end else NULL,
        fields["vf"],
        fields["vu"] or NULL,
        str(max_uses) if max_uses else NULL,
        str(fields["use_count"]),
        template.exclusions,
        str(template.fee),
        fields["summary"],
        fields["status"],
        str(version),
        NULL,  # request_id: these consents were granted directly
        fields["revoked_at"] or NULL,
        fields["reason"] or NULL,
        fields["created"],
        updated,
    )
    return "\t".join(values) + "\n"


CONSENT_COLUMNS = (
    "id",
    "patient_id",
    "grantee_org_id",
    "grantee_org_type",
    "data_categories",
    "purposes",
    "actions",
    "data_period_start",
    "data_period_end",
    "valid_from",
    "valid_until",
    "max_uses",
    "use_count",
    "exclusions",
    "fee_per_use",
    "summary",
    "status",
    "version",
    "request_id",
    "revoked_at",
    "revoke_reason",
    "created_at",
    "updated_at",
)
VERSION_COLUMNS = ("consent_id", "version", "change", "snapshot", "created_at")
PATIENT_COLUMNS = ("id", "email", "password_hash", "display_name", "created_at", "erased_at")


def _dated(start: date | None, end: date | None, valid_until: int | None) -> str:
    """Return the summary's dated ending, as summarise() writes it."""
    text = ""
    if start and end:
        text = f", from records dated {_day(start)} to {_day(end)}"
    elif start:
        text = f", from records dated {_day(start)} onwards"
    elif end:
        text = f", from records dated up to {_day(end)}"
    if valid_until is None:
        return text + OPEN_END
    return text + f", until {_day(datetime.fromtimestamp(valid_until, UTC).date())}."


def _q(value: str | None) -> str:
    return "null" if value is None else f'"{value}"'


def _version_line(
    template: Template,
    fields: dict[str, Any],
    number: int,
    change: str,
    when: int,
    *,
    final: bool,
) -> str:
    """Return one consent_versions COPY line: the snapshot ConsentOut would have shown."""
    start, end = fields["start"], fields["end"]
    period = "null"
    if start or end:
        period = f'{{"start":{_q(start and str(start))},"end":{_q(end and str(end))}}}'
    changed = _ts(when)
    snapshot = (
        f'{{"id":"{fields["id"]}","grantee":{template.grantee_out},'
        f'"data_categories":{template.categories},"purposes":{template.purposes},'
        f'"actions":{template.actions},"data_period":{period},"valid_from":"{fields["vf"]}",'
        f'"valid_until":{_q(fields["vu"])},"max_uses":{template.max_uses or "null"},'
        f'"use_count":{fields["use_count"] if final else 0},'
        f'"exclusions":{template.exclusions_out},"fee_per_use":{template.fee},'
        f'"summary":{_js(fields["summary"])},"status":"{fields["status"] if final else "active"}",'
        f'"version":{number},"request_id":null,'
        f'"revoked_at":{_q(fields["revoked_at"] if final else None)},'
        f'"revoke_reason":{_js(fields["reason"] if final else None)},'
        f'"created_at":"{fields["created"]}","updated_at":"{changed}"}}'
    )
    return f"{fields['id']}\t{number}\t{change}\t{snapshot}\t{changed}\n"


# --- the database side ---------------------------------------------------------------------


def organisations(connection: psycopg.Connection) -> list[Org]:
    """Insert the extra organisations (idempotent); return all 20 with their weights."""
    now = datetime.now(UTC)
    for name, kind, _ in EXTRA_ORGS:
        connection.execute(
            "INSERT INTO organisations (id, name, type, status, created_at) "
            "VALUES (%s, %s, %s, 'active', %s) ON CONFLICT (id) DO NOTHING",
            (uuid.uuid5(NAMESPACE, name), name, kind, now),
        )
    orgs = [Org(str(uuid.uuid5(NAMESPACE, n)), n, k, w) for n, k, w in EXTRA_ORGS]
    for role, weight in DEMO_WEIGHTS.items():
        org_id, name, kind = demo_org(connection, role)
        orgs.append(Org(str(org_id), name, kind, weight))
    return orgs


def hospital_refs(connection: psycopg.Connection, patient_ids: list[str]) -> list[str]:
    """The references the demo hospital knows these patients by (as the served app makes them)."""
    org_id = demo_org(connection, "hospital")[0]
    return refs.encode_with(PSEUDONYM_KEY, org_id, [uuid.UUID(str(p)) for p in patient_ids])


def hospital_patients(connection: psycopg.Connection, patient_refs: list[str]) -> list[str]:
    """The patient ids behind the demo hospital's references."""
    org_id = demo_org(connection, "hospital")[0]
    return [str(p) for p in refs.decode_with(PSEUDONYM_KEY, org_id, patient_refs)]


def demo_org(connection: psycopg.Connection, role: str = "hospital") -> tuple[uuid.UUID, str, str]:
    """Return (id, name, type) of a demo organisation, found by its OAuth client id."""
    client_id = DEMO[role][2]
    row = connection.execute(
        "SELECT o.id, o.name, o.type FROM organisations o "
        "JOIN oauth_clients c ON c.org_id = o.id WHERE c.client_id = %s",
        (client_id,),
    ).fetchone()
    if row is None:
        raise RuntimeError(f"the demo organisation {client_id!r} is missing: run the demo seed")
    return row


@dataclass(frozen=True)
class Ddl:
    """Constraints and indexes dropped for the load, to restore exactly afterwards."""

    foreign_keys: list[tuple[str, str, str]]
    keys: list[tuple[str, str, str]]
    indexes: list[tuple[str, str]]


def capture_ddl(connection: psycopg.Connection, tables: tuple[str, ...]) -> Ddl:
    """Read the keys, foreign keys (either way) and plain indexes of the tables."""
    rows = connection.execute(
        "SELECT c.conrelid::regclass::text, c.conname, c.contype, pg_get_constraintdef(c.oid) "
        "FROM pg_constraint c WHERE c.contype IN ('p', 'u', 'f') "
        "AND (c.conrelid = ANY(%(t)s::regclass[]) OR c.confrelid = ANY(%(t)s::regclass[])) "
        "ORDER BY c.conname",
        {"t": list(tables)},
    ).fetchall()
    indexes = connection.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "WHERE i.indrelid = ANY(%(t)s::regclass[]) AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
        "WHERE c.conindid = i.indexrelid AND c.contype IN ('p', 'u', 'x')) ORDER BY 1",
        {"t": list(tables)},
    ).fetchall()
    return Ddl(
        foreign_keys=[(t, n, d) for t, n, kind, d in rows if kind == "f"],
        keys=[(t, n, d) for t, n, kind, d in rows if kind != "f"],
        indexes=list(indexes),
    )


def drop_ddl(connection: psycopg.Connection, ddl: Ddl) -> None:
    """Drop foreign keys, then keys, then indexes."""
    for table, name, _ in [*ddl.foreign_keys, *ddl.keys]:
        connection.execute(
            sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                sql.SQL(table), sql.Identifier(name)
            )
        )
    for index, _ in ddl.indexes:
        connection.execute(sql.SQL("DROP INDEX {}").format(sql.SQL(index)))


def restore_ddl(connection: psycopg.Connection, ddl: Ddl) -> None:
    """Recreate keys, then indexes, then foreign keys (validated against the loaded rows)."""
    connection.execute("SET maintenance_work_mem = '1GB'")
    for table, name, definition in [*ddl.keys, *ddl.foreign_keys]:
        if (table, name, definition) in ddl.foreign_keys:
            continue
        connection.execute(_add_constraint(table, name, definition))
    for _, definition in ddl.indexes:
        connection.execute(sql.SQL(definition))
    for table, name, definition in ddl.foreign_keys:
        connection.execute(_add_constraint(table, name, definition))


def _add_constraint(table: str, name: str, definition: str) -> sql.Composed:
    return sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
        sql.SQL(table), sql.Identifier(name), sql.SQL(definition)
    )


def _copy_statement(table: str, columns: tuple[str, ...], *, freeze: bool) -> sql.Composed:
    return sql.SQL("COPY {} ({}) FROM STDIN{}").format(
        sql.Identifier(table),
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL(" (FREEZE)" if freeze else ""),
    )


def patient_lines(rng: random.Random, ids: list[str], now: int) -> Iterator[str]:
    """Yield the patients' COPY lines in chunks."""
    lines = []
    for number, patient_id in enumerate(ids, start=1):
        created = _ts(now - 3 * YEAR - int(rng.random() * YEAR))
        lines.append(
            f"{patient_id}\tpatient{number:07d}@bench.invalid\t{NO_LOGIN}\t"
            f"Bench Patient {number}\t{created}\t{NULL}\n"
        )
        if len(lines) == 10 * CHUNK:
            yield "".join(lines)
            lines = []
    if lines:
        yield "".join(lines)


def load_patients(
    connection: psycopg.Connection, rng: random.Random, spec: Spec, now: int
) -> list[str]:
    """COPY the patients; return their ids."""
    ids = [_rand_uuid(rng) for _ in range(spec.patients)]
    with (
        connection.cursor() as cursor,
        cursor.copy(_copy_statement("patients", PATIENT_COLUMNS, freeze=False)) as copy,
    ):
        for chunk in patient_lines(rng, ids, now):
            copy.write(chunk)
    connection.commit()
    return ids


def load_consents(
    url: str, rng: random.Random, spec: Spec, now: int, patients: list[str], orgs: list[Org]
) -> int:
    """COPY consents and versions at once over two connections; return the versions count."""
    templates, weights = make_templates(rng, orgs)
    activity = [rng.lognormvariate(0, 1) for _ in patients]
    owners = rng.choices(patients, weights=activity, k=spec.consents)
    scopes = rng.choices(templates, weights=weights, k=spec.consents)
    maker = ConsentMaker(rng, now)
    versions = 0
    with psycopg.connect(url) as first, psycopg.connect(url) as second:
        # COPY ... FREEZE needs the table emptied in its transaction; what the demo seed made
        # (the demo patient's story) is kept aside and put back, so that a later seed of the
        # reused dataset finds the story told (and does not tell it again over its links).
        first.execute("CREATE TEMP TABLE seeded AS SELECT * FROM consents")
        second.execute("CREATE TEMP TABLE seeded AS SELECT * FROM consent_versions")
        first.execute("TRUNCATE consents")
        second.execute("TRUNCATE consent_versions")
        statement_c = _copy_statement("consents", CONSENT_COLUMNS, freeze=True)
        statement_v = _copy_statement("consent_versions", VERSION_COLUMNS, freeze=True)
        with (
            first.cursor().copy(statement_c) as consents,
            second.cursor().copy(statement_v) as history,
        ):
            for start in range(0, spec.consents, CHUNK):
                rows = [
                    maker.make(t, p)
                    for t, p in zip(
                        scopes[start : start + CHUNK], owners[start : start + CHUNK], strict=True
                    )
                ]
                consents.write("".join(r.consent for r in rows))
                lines = [line for r in rows for line in r.versions]
                history.write("".join(lines))
                versions += len(lines)
        first.execute("INSERT INTO consents SELECT * FROM seeded")
        second.execute("INSERT INTO consent_versions SELECT * FROM seeded")
        first.commit()
        second.commit()
    return versions


def vacuum_analyze(url: str, tables: tuple[str, ...]) -> None:
    """VACUUM (ANALYZE) the tables: fresh statistics and a visibility map for index scans."""
    with psycopg.connect(url, autocommit=True) as connection:
        for table in tables:
            connection.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table)))


def write_stamp(url: str, database: str, stamp: dict[str, Any]) -> None:
    """Record the dataset in the database's comment, which is what the cache check reads."""
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(database), sql.Literal(json.dumps(stamp, sort_keys=True))
            )
        )


def read_stamp(admin_url: str, database: str) -> dict[str, Any] | None:
    """Return the dataset recorded in the database's comment, or None."""
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as connection:
        row = connection.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            (database,),
        ).fetchone()
    if row is None or not row[0]:
        return None
    try:
        stamp = json.loads(row[0])
    except ValueError:
        return None
    return stamp if isinstance(stamp, dict) else None


def current_revision(url: str) -> str | None:
    """Return the database's Alembic revision, or None if it has none."""
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as connection:
            row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except psycopg.Error:
        return None
    return row[0] if row else None


def cached(spec: Spec, revision: str, *, url: str, admin_url: str, database: str) -> dict | None:
    """Return the stamp of a loaded dataset matching the spec and revision, else None."""
    stamp = read_stamp(admin_url, database)
    if stamp is None or current_revision(url) != revision:
        return None
    wanted = spec.stamp(revision)
    return stamp if all(stamp.get(key) == value for key, value in wanted.items()) else None


class Clock:
    """Seconds spent per phase of the load."""

    def __init__(self, say: Say) -> None:
        self.say = say
        self.phases: dict[str, float] = {}
        self.started = self.mark = time.monotonic()

    def lap(self, phase: str) -> None:
        """Close a phase, report it."""
        now = time.monotonic()
        self.phases[phase] = round(now - self.mark, 2)
        self.mark = now
        self.say(f"dataset: {phase} took {self.phases[phase]:.1f}s")

    @property
    def total(self) -> float:
        """Return the seconds since the clock started."""
        return round(time.monotonic() - self.started, 2)


def load(url: str, spec: Spec, revision: str, *, database: str, say: Say) -> dict[str, Any]:
    """Load a migrated, demo-seeded, consent-free database; return (and record) its stamp."""
    rng = random.Random(SEED)
    now = int(time.time())
    clock = Clock(say)
    with psycopg.connect(url) as connection:
        orgs = organisations(connection)
        ddl = capture_ddl(connection, LOADED)
        drop_ddl(connection, ddl)
        connection.commit()
        clock.lap("organisations and dropping indexes")
        patients = load_patients(connection, rng, spec, now)
        clock.lap(f"COPY {spec.patients:,} patients")
        versions = load_consents(url, rng, spec, now, patients, orgs)
        clock.lap(f"COPY {spec.consents:,} consents and {versions:,} versions")
        restore_ddl(connection, ddl)
        connection.commit()
        clock.lap("rebuilding indexes and foreign keys")
        research = researchprefs.load(connection, patients, now, _ts)
        clock.lap(f"COPY {research.rows:,} research preferences ({research.opted_in:,} opted in)")
    vacuum_analyze(url, ("organisations", "patients", *LOADED, "research_preferences"))
    clock.lap("VACUUM (ANALYZE)")
    stamp = {
        **spec.stamp(revision),
        "organisations": len(orgs),
        "versions": versions,
        "research_preferences": research.rows,
        "research_opted_in": research.opted_in,
        "generated_at": datetime.fromtimestamp(now, UTC).isoformat(),
        "load_s": clock.total,
        "phases_s": clock.phases,
    }
    write_stamp(url, database, stamp)
    return stamp
