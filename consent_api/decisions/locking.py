"""A data use is decided on locked consents, and counted against the same rows.

`candidates_at` reads one patient's consents naming the organisation as they stood when the
use happened and locks them, in id order (every writer's order: no deadlocks), until the
transaction ends; `count_uses` then adds the use to those it relied on, all or none, by a
conditional UPDATE, so `max_uses` holds exactly however many uses race. SQLAlchemy Core on the
session's connection: this runs in every data use (measured with `make bench`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import bindparam, or_, select, update

from consent_api.consents.models import Consent, ConsentVersion
from consent_api.decisions.decide import ConsentTerms
from consent_api.decisions.store import COLUMNS, GRANTED, exclusions, terms
from consent_api.orgs.values import Org
from server.db import core, db

_consents = Consent.__table__
_FOR_USE = (
    select(*COLUMNS, _consents.c.updated_at)
    .where(_consents.c.patient_id == bindparam("patient_id"), GRANTED)
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
    current = [terms(row) for row in rows if row.updated_at <= at]
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
        exclusions(json.dumps(snapshot.get("exclusions") or [])),
    )


_ADD_USE = (
    update(_consents)
    .where(
        _consents.c.id == bindparam("consent_id"),
        or_(_consents.c.max_uses.is_(None), _consents.c.use_count < _consents.c.max_uses),
    )
    .values(use_count=_consents.c.use_count + 1)
    .returning(_consents.c.fee_per_use)
)


def _add_use(consent_id: uuid.UUID) -> int | None:
    """Count one use; returns the consent's fee per use, or None if its uses ran out."""
    return core().execute(_ADD_USE, {"consent_id": consent_id}).scalar_one_or_none()


def count_uses(consent_ids: Sequence[uuid.UUID]) -> int | None:
    """Add one use to each consent (locked by `candidates_at`), all or none; returns their
    total fee per use, or None if one has run out (only a `max_uses` lowered since the
    version decided on can do that)."""
    if len(consent_ids) <= 1:
        fees = [_add_use(consent_id) for consent_id in consent_ids]
        return None if None in fees else sum(fees)
    with db.session.begin_nested() as savepoint:
        fees = [_add_use(consent_id) for consent_id in consent_ids]
        if None in fees:
            savepoint.rollback()
            return None
    return sum(fees)
