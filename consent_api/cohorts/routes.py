"""Cohort counts for data users, and the operator's privacy budgets."""

from __future__ import annotations

import uuid

from flask import Blueprint, current_app

from consent_api.cohorts import service
from consent_api.cohorts.budget import Default
from consent_api.cohorts.models import MICRO
from consent_api.cohorts.schemas import BudgetIn, BudgetOut, CohortCountIn, CohortCountOut
from consent_api.orgs.current import current_org_ref
from server import scopes
from server.db import utcnow
from server.guard import require
from server.http import body, output

bp = Blueprint("cohorts", __name__)


def _default() -> Default:
    config = current_app.config
    return Default(
        round(config["COHORT_BUDGET_EPSILON"] * MICRO), config["COHORT_BUDGET_RENEWS_DAYS"]
    )


@bp.post("/v1/cohort-counts")
@require(scopes.COHORT_COUNT)
@output(CohortCountOut)
@body(CohortCountIn)
def count_cohort(body):
    """About how many patients' consents permit a scope to the caller (noised)."""
    return service.count(body, org=current_org_ref(), now=utcnow(), default=_default())


@bp.get("/v1/admin/orgs/<uuid:org_id>/privacy-budget")
@require(scopes.ADMIN)
@output(BudgetOut)
def get_budget(org_id: uuid.UUID):
    """An organisation's privacy budget for cohort counts."""
    return service.budget_of(org_id, now=utcnow(), default=_default())


@bp.put("/v1/admin/orgs/<uuid:org_id>/privacy-budget")
@require(scopes.ADMIN)
@output(BudgetOut)
@body(BudgetIn)
def put_budget(org_id: uuid.UUID, body):
    """Set an organisation's privacy budget and how often it renews."""
    return service.set_budget(org_id, body, now=utcnow())
