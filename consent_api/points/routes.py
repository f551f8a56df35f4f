"""Health points: the patient's wallet, statement and redemptions; the rewards catalog; the
operator's terms and rewards."""

from __future__ import annotations

import uuid

from flask import Blueprint, url_for

from consent_api.orgs.current import current_org_ref
from consent_api.patients.current import current_patient, current_patient_id
from consent_api.points import organisations, service
from consent_api.points.schemas import (
    OrgPointsOut,
    OrgStatementPageOut,
    RedemptionIn,
    RedemptionOut,
    RedemptionPageOut,
    RewardIn,
    RewardListOut,
    RewardOut,
    StatementPageOut,
    StatementQuery,
    TermsIn,
    TermsOut,
    WalletOut,
    with_voucher_code,
    without_voucher_code,
)
from server import scopes
from server.db import utcnow
from server.guard import acting_org_id, public, require
from server.http import body, output, query
from server.idempotency import idempotent

bp = Blueprint("points", __name__)


@bp.get("/v1/me/points")
@require(scopes.PATIENT)
@output(WalletOut)
def wallet():
    """The balance, and the points expiring within the warning window."""
    return service.wallet(current_patient().id, now=utcnow())


@bp.get("/v1/me/points/ledger")
@require(scopes.PATIENT)
@output(StatementPageOut)
@query(StatementQuery)
def statement(query):
    """The wallet's statement, newest first; each line explains itself."""
    return service.statement(current_patient().id, query)


@bp.get("/v1/org/points")
@require(scopes.DATA_USE_WRITE, scopes.CONSENT_READ)
@output(OrgPointsOut)
def org_totals():
    """What the calling organisation paid as a data user and earned as a data holder."""
    return organisations.totals(current_org_ref().id)


@bp.get("/v1/org/points/ledger")
@require(scopes.DATA_USE_WRITE, scopes.CONSENT_READ)
@output(OrgStatementPageOut)
@query(StatementQuery)
def org_statement(query):
    """The calling organisation's statement, newest first; each line explains itself."""
    return organisations.statement(current_org_ref().id, query)


@bp.post("/v1/me/points/redemptions")
@require(scopes.PATIENT)
@idempotent(current_patient_id, keep=without_voucher_code, restore=with_voucher_code)
@output(RedemptionOut, status=201)
@body(RedemptionIn)
def redeem(body):
    """Spend points on a reward (Idempotency-Key required); 409 when points are short."""
    return service.redeem(current_patient().id, body["reward_id"], now=utcnow())


@bp.get("/v1/me/points/redemptions")
@require(scopes.PATIENT)
@output(RedemptionPageOut)
@query(StatementQuery)
def list_redemptions(query):
    """The patient's redemptions, newest first, each with its voucher code or instructions."""
    return service.redemptions(current_patient().id, query)


@bp.get("/v1/rewards")
@public
@output(RewardListOut)
def list_rewards():
    """The rewards on offer."""
    return {"items": service.rewards()}


@bp.post("/v1/admin/rewards")
@require(scopes.ADMIN)
@output(RewardOut, status=201)
@body(RewardIn)
def create_reward(body):
    """Add a reward to the catalog."""
    reward = service.create_reward(body, by=acting_org_id(), now=utcnow())
    return reward, {"Location": url_for(".list_rewards")}


@bp.delete("/v1/admin/rewards/<uuid:reward_id>")
@require(scopes.ADMIN)
def retire_reward(reward_id: uuid.UUID):
    """Take a reward off the catalog."""
    service.retire_reward(reward_id, by=acting_org_id(), now=utcnow())
    return "", 204


@bp.get("/v1/admin/points-terms")
@require(scopes.ADMIN)
@output(TermsOut)
def get_terms():
    """The split in force: trustee commission, patient share of the rest (basis points)."""
    return service.current_terms()


@bp.put("/v1/admin/points-terms")
@require(scopes.ADMIN)
@output(TermsOut)
@body(TermsIn)
def put_terms(body):
    """Change the split for uses reported from now on."""
    return service.set_terms(body, by=acting_org_id(), now=utcnow())
