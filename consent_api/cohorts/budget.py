"""Spend an organisation's privacy budget atomically, renewing it lazily when its period ends.

One conditional UPDATE spends: `spent + epsilon <= total`, evaluated by the database on the
row as it stands when the update takes its lock, so concurrent queries queue on the row and
the last ones find it spent; none can overspend. A period that has ended is renewed in the
same statement (spent starts again from this query's epsilon, and a new period starts now):
no job is needed, and an organisation that asks nothing keeps nothing renewed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, select, update

from consent_api.cohorts.models import MICRO, PrivacyBudget
from server.db import core, db, insert_or_skip, locked_row
from server.errors import Conflict

_budgets = PrivacyBudget.__table__


@dataclass(frozen=True)
class Default:
    """The budget of an organisation the operator has set none for (from configuration)."""

    total_micro: int
    renews_every_days: int


@dataclass(frozen=True)
class Budget:
    """An organisation's budget as of one moment: in millionths of epsilon."""

    total_micro: int
    spent_micro: int
    renews_every_days: int
    renews_at: datetime

    @property
    def total_epsilon(self) -> float:
        """The epsilon the organisation may spend per period."""
        return self.total_micro / MICRO

    @property
    def spent_epsilon(self) -> float:
        """The epsilon spent in the current period."""
        return self.spent_micro / MICRO

    @property
    def remaining_epsilon(self) -> float:
        """What is left to spend until the budget renews."""
        return max(0, self.total_micro - self.spent_micro) / MICRO


def _as_of(row, now: datetime) -> Budget:
    """A stored row seen at `now`: a period that has ended reads as renewed (nothing spent)."""
    period = timedelta(days=row.renews_every_days)
    started, spent = row.period_started_at, row.spent_micro
    if started + period <= now:
        started, spent = now, 0
    return Budget(row.total_micro, spent, row.renews_every_days, started + period)


def current(org_id: uuid.UUID, *, now: datetime, default: Default) -> Budget:
    """Return an organisation's budget as of `now` (the default if none was ever stored)."""
    row = db.session.get(PrivacyBudget, org_id)
    if row is None:
        return Budget(
            default.total_micro,
            0,
            default.renews_every_days,
            now + timedelta(days=default.renews_every_days),
        )
    return _as_of(row, now)


def set_budget(
    org_id: uuid.UUID, *, total_micro: int, renews_every_days: int, now: datetime
) -> Budget:
    """Set an organisation's budget; what it spent in the current period stays spent, and the
    period now ends after the new number of days from its start. A period that had ended is
    renewed first (nothing spent, starting now), as it reads. The row is locked, so that a
    query spending meanwhile is neither lost nor spent twice."""
    row = locked_row(
        PrivacyBudget,
        {"org_id": org_id},
        created_with={
            "total_micro": total_micro,
            "spent_micro": 0,
            "renews_every_days": renews_every_days,
            "period_started_at": now,
            "updated_at": now,
        },
    )
    if row.period_started_at + timedelta(days=row.renews_every_days) <= now:
        row.spent_micro, row.period_started_at = 0, now
    row.total_micro, row.renews_every_days, row.updated_at = total_micro, renews_every_days, now
    db.session.flush()
    return _as_of(row, now)


def spend(org_id: uuid.UUID, micro: int, *, now: datetime, default: Default) -> Budget:
    """Spend `micro` millionths of epsilon of the organisation's budget, or raise 409
    `privacy_budget_exhausted` having spent nothing."""
    connection = core()
    connection.execute(
        insert_or_skip(_budgets, "org_id").values(
            org_id=org_id,
            total_micro=default.total_micro,
            spent_micro=0,
            renews_every_days=default.renews_every_days,
            period_started_at=now,
            updated_at=now,
        )
    )
    days = connection.execute(
        select(_budgets.c.renews_every_days).where(_budgets.c.org_id == org_id)
    ).scalar_one()
    ended = _budgets.c.period_started_at <= now - timedelta(days=days)
    spent_after = case((ended, micro), else_=_budgets.c.spent_micro + micro)
    row = connection.execute(
        update(_budgets)
        .where(
            _budgets.c.org_id == org_id,
            # The operator may change the period between the read above and here: then the
            # renewal test would use the old length, so the spend is not made (and retried).
            _budgets.c.renews_every_days == days,
            spent_after <= _budgets.c.total_micro,
        )
        .values(
            spent_micro=spent_after,
            period_started_at=case((ended, now), else_=_budgets.c.period_started_at),
            updated_at=now,
        )
        .returning(*_budgets.c)
    ).one_or_none()
    if row is not None:
        return _as_of(row, now)
    stored = connection.execute(select(_budgets).where(_budgets.c.org_id == org_id)).one()
    if stored.renews_every_days != days:
        return spend(org_id, micro, now=now, default=default)
    raise _exhausted(_as_of(stored, now))


def affordable(org_id: uuid.UUID, micro: int, *, now: datetime, default: Default) -> None:
    """Raise 409 `privacy_budget_exhausted` now if what is left cannot pay `micro` (read
    only: a query refused here costs no counting; `spend` still decides atomically)."""
    budget = current(org_id, now=now, default=default)
    if budget.spent_micro + micro > budget.total_micro:
        raise _exhausted(budget)


def _exhausted(budget: Budget) -> Conflict:
    return Conflict(
        "This query would spend more of the privacy budget than is left; it renews at "
        f"{budget.renews_at.isoformat()}.",
        code="privacy_budget_exhausted",
        remaining_epsilon=budget.remaining_epsilon,
        renews_at=budget.renews_at.isoformat(),
    )
