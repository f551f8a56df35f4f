"""Count the patients whose current consents permit a whole scope for an organisation.

A patient counts when one of their consents naming the organisation (by id or by its type)
permits every category, purpose and action of the scope now, for the whole data period asked
about: the decision core's rules (consent_api.decisions.decide.evaluate), stated in SQL.
Codes are matched in the consents' JSON text (`"TREAT"` in `["TREAT", "HRESCH"]`): catalog
codes are plain words, so this is exact, and it reads the same on PostgreSQL and SQLite.

Exclusions are the one rule SQL does not state: consents with none (nearly all) are counted
by the database; those with some, of patients not counted yet, are read and each decided by
`evaluate` itself. Two statements, each a filter on the grantee indexes.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Text, and_, cast, distinct, func, or_, select

from consent_api.catalog import ALL, SENSITIVE
from consent_api.consents.models import Consent
from consent_api.decisions.decide import PERMITTED, evaluate
from consent_api.decisions.store import COLUMNS, terms
from consent_api.orgs.values import Org
from server.db import reads

_consents = Consent.__table__
_NO_EXCLUSIONS = or_(
    _consents.c.exclusions.is_(None), cast(_consents.c.exclusions, Text).in_(("[]", "null"))
)


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


def _category(code: str):
    # `all` covers every category but the sensitive ones, which must be named (as in decide).
    if code in SENSITIVE:
        return _names(_consents.c.data_categories, code)
    return or_(_names(_consents.c.data_categories, code), _names(_consents.c.data_categories, ALL))


def _permits(scope: Scope, org: Org, now: datetime) -> list:
    """The conditions under which one consent permits the whole scope (but its exclusions)."""
    start, end = scope.data_from or date.min, scope.data_until or date.max
    c = _consents.c
    return [
        or_(c.grantee_org_id == org.id, c.grantee_org_type == org.type),
        c.status == "active",
        c.valid_from <= now,
        or_(c.valid_until.is_(None), c.valid_until > now),
        or_(c.max_uses.is_(None), c.use_count < c.max_uses),
        or_(c.data_period_start.is_(None), c.data_period_start <= start),
        or_(c.data_period_end.is_(None), c.data_period_end >= end),
        *(_category(code) for code in scope.data_categories),
        *(_names(c.purposes, code) for code in scope.purposes),
        *(_names(c.actions, code) for code in scope.actions),
    ]


def count_consenting(scope: Scope, *, org: Org, now: datetime) -> int:
    """The number of distinct patients with a current consent permitting all of `scope` to
    `org` (exact: the caller adds the noise)."""
    permits = _permits(scope, org, now)
    plain = and_(*permits, _NO_EXCLUSIONS)
    counted = reads.execute(select(func.count(distinct(_consents.c.patient_id))).where(plain), {})
    total = counted.scalar_one()
    rest = reads.execute(
        select(*COLUMNS).where(
            *permits,
            ~_NO_EXCLUSIONS,
            _consents.c.patient_id.not_in(select(_consents.c.patient_id).where(plain)),
        ),
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
