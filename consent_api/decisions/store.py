"""Read the candidate consents for a set of patients and one organisation: one query per
5,000 patients, SQLAlchemy Core on the request's autocommit read connection.

This is the hot path of every check, so it is written for speed (measured with `make bench`):
the query is answered from one covering index (ix_consents_decision) by patient, the grantee
test filtering inside it; JSON columns arrive as text and are parsed through caches, since the
same scopes recur across many consents.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime

from sqlalchemy import Text, Uuid, any_, bindparam, cast, or_, select
from sqlalchemy.dialects import postgresql

from consent_api.consents.models import Consent, ConsentVersion
from consent_api.decisions.decide import ConsentTerms, Exclusion, Org
from server.db import core, db, reads

CHUNK = 5_000  # well under SQLite's and psycopg's bound-parameter limits

_consents = Consent.__table__
_COLUMNS = (
    _consents.c.patient_id,
    _consents.c.grantee_org_id,
    _consents.c.grantee_org_type,
    _consents.c.id,
    _consents.c.version,
    _consents.c.status,
    cast(_consents.c.data_categories, Text).label("data_categories"),
    cast(_consents.c.purposes, Text).label("purposes"),
    cast(_consents.c.actions, Text).label("actions"),
    _consents.c.valid_from,
    _consents.c.valid_until,
    _consents.c.data_period_start,
    _consents.c.data_period_end,
    _consents.c.max_uses,
    _consents.c.use_count,
    cast(_consents.c.exclusions, Text).label("exclusions"),
)
_GRANTED = or_(
    _consents.c.grantee_org_id == bindparam("org_id"),
    _consents.c.grantee_org_type == bindparam("org_type"),
)
# PostgreSQL takes the ids as one array parameter: one statement text for every batch size,
# instead of re-rendering an IN list of up to 5,000 placeholders per call.
_BY_ARRAY = select(*_COLUMNS).where(
    _consents.c.patient_id == any_(bindparam("patient_ids", type_=postgresql.ARRAY(Uuid))),
    _GRANTED,
)
_BY_LIST = select(*_COLUMNS).where(
    _consents.c.patient_id.in_(bindparam("patient_ids", expanding=True)), _GRANTED
)


@functools.lru_cache(maxsize=8192)
def _codes(raw: str) -> frozenset[str]:
    return frozenset(json.loads(raw))


@functools.lru_cache(maxsize=4096)
def _exclusions(raw: str | None) -> tuple[Exclusion, ...]:
    return tuple(
        Exclusion(
            data_categories=frozenset(e.get("data_categories") or ()),
            purposes=frozenset(e.get("purposes") or ()),
            org_ids=frozenset(uuid.UUID(o) for o in e.get("org_ids") or ()),
        )
        for e in json.loads(raw or "[]")
    )


def _terms(row) -> ConsentTerms:
    # Positional unpacking: by-name access on a Row costs a key look-up per column, and a
    # 10,000-check batch builds thousands of these.
    (
        _patient_id,
        grantee_org_id,
        grantee_org_type,
        consent_id,
        version,
        status,
        categories,
        purposes,
        actions,
        valid_from,
        valid_until,
        period_start,
        period_end,
        max_uses,
        use_count,
        exclusions,
        *_,
    ) = row
    return ConsentTerms(
        consent_id,
        version,
        status,
        grantee_org_id,
        grantee_org_type,
        _codes(categories),
        _codes(purposes),
        _codes(actions),
        valid_from,
        valid_until,
        period_start,
        period_end,
        max_uses,
        use_count,
        _exclusions(exclusions),
    )


def candidates(patient_ids: Iterable[uuid.UUID], org: Org) -> dict[uuid.UUID, list[ConsentTerms]]:
    """Return, per patient, the consents naming `org` by id or by type."""
    wanted = list(dict.fromkeys(patient_ids))
    found: dict[uuid.UUID, list[ConsentTerms]] = defaultdict(list)
    query = _BY_ARRAY if db.engine.dialect.name == "postgresql" else _BY_LIST
    for start in range(0, len(wanted), CHUNK):
        rows = reads.execute(
            query,
            {"patient_ids": wanted[start : start + CHUNK], "org_id": org.id, "org_type": org.type},
        ).all()
        for row in rows:
            found[row[0]].append(_terms(row))
    return found


_FOR_USE = (
    select(*_COLUMNS, _consents.c.updated_at)
    .where(_consents.c.patient_id == bindparam("patient_id"), _GRANTED)
    .order_by(_consents.c.id)  # one lock order for every writer: no deadlocks
    .with_for_update()
)


def candidates_at(patient_id: uuid.UUID, org: Org, at: datetime) -> list[ConsentTerms]:
    """Return one patient's consents naming `org`, as they stood at `at`, locked until the
    transaction ends (a use decided on them must count against them before anyone changes
    them). A consent changed since `at` is read from the version then in force; one created
    since is left out. Use counts are always the current ones."""
    rows = (
        core()
        .execute(_FOR_USE, {"patient_id": patient_id, "org_id": org.id, "org_type": org.type})
        .all()
    )
    current = [_terms(row) for row in rows if row.updated_at <= at]
    changed = {row.id: row.use_count for row in rows if row.updated_at > at}
    if changed:
        versions = db.session.execute(
            select(ConsentVersion.consent_id, ConsentVersion.snapshot)
            .where(ConsentVersion.consent_id.in_(changed), ConsentVersion.created_at <= at)
            .order_by(ConsentVersion.consent_id, ConsentVersion.version)
        ).all()
        latest = dict(versions)  # ordered by version: the last one in force wins
        current += [
            _from_snapshot(snapshot, use_count=changed[consent_id])
            for consent_id, snapshot in latest.items()
        ]
    return current


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _instant(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _from_snapshot(snapshot: dict, *, use_count: int) -> ConsentTerms:
    """Rebuild decision terms from a stored version (the patient's JSON view of it)."""
    grantee = snapshot["grantee"]
    period = snapshot.get("data_period") or {}
    return ConsentTerms(
        uuid.UUID(snapshot["id"]),
        snapshot["version"],
        snapshot["status"],
        uuid.UUID(grantee["org_id"]) if grantee.get("org_id") else None,
        grantee.get("org_type"),
        frozenset(snapshot["data_categories"]),
        frozenset(snapshot["purposes"]),
        frozenset(snapshot["actions"]),
        _instant(snapshot["valid_from"]),
        _instant(snapshot.get("valid_until")),
        _date(period.get("start")),
        _date(period.get("end")),
        snapshot.get("max_uses"),
        use_count,
        _exclusions(json.dumps(snapshot.get("exclusions") or [])),
    )
