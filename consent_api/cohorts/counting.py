"""Count the patients whose current consents permit a whole scope for an organisation.

A patient counts when one of their consents naming the organisation (by id or by its type)
permits every category, purpose and action of the scope now, for the whole data period asked
about: the decision core's rules (consent_api.decisions.decide.evaluate), stated in SQL.
Codes are matched in the consents' JSON text (`"TREAT"` in `["TREAT", "HRESCH"]`): catalog
codes are plain words, so this is exact, and it reads the same on PostgreSQL and SQLite.

Exclusions are the one rule SQL does not state: consents with none (nearly all) are counted
by the database; those with some, of patients not counted yet, are read and each decided by
`evaluate` itself. Two statements, each reading only the partial covering indexes of active
consents by grantee (migration 0022), never the table.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Text, cast, distinct, func, literal_column, or_, select, union_all

from consent_api.catalog import ALL, SENSITIVE
from consent_api.consents.models import Consent
from consent_api.decisions.decide import PERMITTED, evaluate
from consent_api.decisions.store import COLUMNS, terms
from consent_api.orgs.values import Org
from server.db import reads

_consents = Consent.__table__
# Spelled out, not a bound parameter: the partial indexes the counts read (migration 0022)
# hold active consents only, and the planner uses them only when it sees that literal.
_ACTIVE = literal_column("'active'")


def _no_exclusions(table):
    return or_(table.c.exclusions.is_(None), cast(table.c.exclusions, Text).in_(("[]", "null")))


@dataclass(frozen=True)
class Scope:
    """What a cohort count asks about: every combination of these must be permitted."""

    data_categories: tuple[str, ...]
    purposes: tuple[str, ...]
    actions: tuple[str, ...]
    data_from: date | None = None
    data_until: date | None = None


def _names(column, code: str):
    return cast(column, Text).contains(f'"{code}"', autoescape=True)


def _category(table, code: str):
    # `all` covers every category but the sensitive ones, which must be named (as in decide).
    column = table.c.data_categories
    if code in SENSITIVE:
        return _names(column, code)
    return or_(_names(column, code), _names(column, ALL))


def _permits(table, scope: Scope, now: datetime) -> list:
    """The conditions under which one consent permits the whole scope (but its grantee and
    its exclusions)."""
    start, end = scope.data_from or date.min, scope.data_until or date.max
    c = table.c
    return [
        c.status == _ACTIVE,
        c.valid_from <= now,
        or_(c.valid_until.is_(None), c.valid_until > now),
        or_(c.max_uses.is_(None), c.use_count < c.max_uses),
        or_(c.data_period_start.is_(None), c.data_period_start <= start),
        or_(c.data_period_end.is_(None), c.data_period_end >= end),
        *(_category(table, code) for code in scope.data_categories),
        *(_names(c.purposes, code) for code in scope.purposes),
        *(_names(c.actions, code) for code in scope.actions),
    ]


def _granted(statement, org: Org, conditions: list):
    """The statement over the consents naming `org`, by id and by type, as two branches of
    a UNION ALL (a consent names one grantee, so none is read twice): each branch an
    index-only scan of its grantee's partial index, where an OR of the two would read the
    table."""
    c = _consents.c
    return union_all(
        statement.where(c.grantee_org_id == org.id, *conditions),
        statement.where(c.grantee_org_type == org.type, *conditions),
    ).subquery()


def count_consenting(scope: Scope, *, org: Org, now: datetime) -> int:
    """The number of distinct patients with a current consent permitting all of `scope` to
    `org` (exact: the caller adds the noise)."""
    permits = _permits(_consents, scope, now)
    plain = _granted(select(_consents.c.patient_id), org, [*permits, _no_exclusions(_consents)])
    total = reads.execute(select(func.count(distinct(plain.c.patient_id))), {}).scalar_one()
    # The consents with exclusions that would permit, of patients no plain consent counted
    # (looked up by patient in the decision index).
    other = _consents.alias("counted")
    counted = (
        select(other.c.id)
        .where(
            other.c.patient_id == _consents.c.patient_id,
            or_(other.c.grantee_org_id == org.id, other.c.grantee_org_type == org.type),
            *_permits(other, scope, now),
            _no_exclusions(other),
        )
        .exists()
    )
    rest = reads.execute(
        select(_granted(select(*COLUMNS), org, [*permits, ~_no_exclusions(_consents), ~counted])),
        {},
    ).all()
    combinations = list(itertools.product(scope.data_categories, scope.purposes, scope.actions))
    permitted = {
        row[0]
        for row in rest
        if all(
            evaluate(
                terms(row),
                org=org,
                category=category,
                purpose=purpose,
                action=action,
                data_date=scope.data_from or date.min,
                data_until=scope.data_until or date.max,
                now=now,
            )
            == PERMITTED
            for category, purpose, action in combinations
        )
    }
    return total + len(permitted)
