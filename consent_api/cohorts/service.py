"""Answer a cohort count: spend the budget, count in the database, release with noise.

One query releases two counts of the same patients (who consent; who opted in to be invited),
so by sequential composition it costs the sum of their epsilons: the query's `epsilon` is what
it spends of the budget, split evenly between the two (each noised at scale 2/epsilon).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from consent_api.cohorts import budget as budgets
from consent_api.cohorts import noise
from consent_api.cohorts.counting import Scope, count_consenting
from consent_api.cohorts.models import MICRO
from consent_api.orgs.models import Organisation
from consent_api.orgs.values import Org
from consent_api.research.disclosure import Released, release
from consent_api.research.preferences import count_opted_in
from server.db import db
from server.errors import NotFound


@dataclass(frozen=True)
class Noise:
    """How each count was noised (sensitivity 1, discrete Laplace)."""

    epsilon: float
    scale: float
    accuracy_95: int
    mechanism: str = noise.MECHANISM
    sensitivity: int = noise.SENSITIVITY


@dataclass(frozen=True)
class CohortCount:
    """The answer to a cohort count."""

    consenting: Released
    invitable: Released
    epsilon: float
    noise: Noise
    budget: budgets.Budget


def _release(exact: int, *, epsilon: float) -> Released:
    return release(noise.noisy(exact, epsilon=epsilon))


COUNTS = 2  # consenting and invitable: each spends half the query's epsilon


def count(
    query: dict[str, Any], *, org: Org, now: datetime, default: budgets.Default
) -> CohortCount:
    """Count the patients whose consents permit the query's scope to the caller, and those
    opted in to be invited for it by the caller's kind of organisation; spend the query's
    epsilon of the caller's budget (409 when it would overspend, and nothing is released);
    release each count with noise.

    The counts are read before the spend, on the read connection: the budget's row is locked
    only from the spend to the commit, so one organisation's queries do not queue behind each
    other's counting. A budget already short is refused before counting."""
    epsilon = query["epsilon"]
    micro = round(epsilon * MICRO)
    budgets.affordable(org.id, micro, now=now, default=default)
    period = query.get("data_period") or {}
    scope = Scope(
        tuple(query["data_categories"]),
        tuple(query["purposes"]),
        tuple(query["actions"]),
        period.get("start"),
        period.get("end"),
    )
    consenting = count_consenting(scope, org=org, now=now)
    invitable = count_opted_in(
        data_categories=scope.data_categories, purposes=scope.purposes, org_type=org.type
    )
    spent = budgets.spend(org.id, micro, now=now, default=default)
    each = epsilon / COUNTS
    return CohortCount(
        _release(consenting, epsilon=each),
        _release(invitable, epsilon=each),
        epsilon,
        Noise(each, noise.scale_for(each), noise.accuracy(each)),
        spent,
    )


def _org(org_id: uuid.UUID) -> Organisation:
    org = db.session.get(Organisation, org_id)
    if org is None:
        raise NotFound("No such organisation.")
    return org


def budget_of(org_id: uuid.UUID, *, now: datetime, default: budgets.Default) -> budgets.Budget:
    """An organisation's privacy budget as of `now`."""
    return budgets.current(_org(org_id).id, now=now, default=default)


def set_budget(org_id: uuid.UUID, body: dict[str, Any], *, now: datetime) -> budgets.Budget:
    """Set an organisation's privacy budget and its renewal period."""
    return budgets.set_budget(
        _org(org_id).id,
        total_micro=round(body["total_epsilon"] * MICRO),
        renews_every_days=body["renews_every_days"],
        now=now,
    )
