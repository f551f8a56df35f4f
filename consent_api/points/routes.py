"""Health points: the patient's wallet, statement and redemptions; the rewards catalog; the
operator's terms and rewards."""

from __future__ import annotations

import uuid

from flask import Blueprint, url_for

from consent_api import scopes
from consent_api.oauth import current_patient, current_patient_id, public, require
from consent_api.points import service
from consent_api.points.schemas import (
    RedemptionIn,
    RedemptionOut,
    RewardIn,
    RewardOut,
    StatementLineOut,
    StatementQuery,
    TermsIn,
    TermsOut,
    WalletOut,
)
from server.db import utcnow
from server.http import body, query
from server.idempotency import idempotent

bp = Blueprint("points", __name__)


def _terms_out(terms) -> dict:
    return TermsOut().dump(
        {"commission_bp": terms.commission_bp, "patient_share_bp": terms.patient_bp}
    )


@bp.get("/v1/me/points")
@require(scopes.PATIENT)
def wallet():
    """The balance, and the points expiring within the warning window."""
    return WalletOut().dump(service.wallet(current_patient().id, now=utcnow()))


@bp.get("/v1/me/points/ledger")
@require(scopes.PATIENT)
@query(StatementQuery)
def statement(query):
    """The wallet's statement, newest first; each line explains itself."""
    rows, next_cursor = service.statement(current_patient().id, query)
    lines = StatementLineOut(many=True).dump(service.present_statement(rows))
    return {"items": lines, "next_cursor": next_cursor}


@bp.post("/v1/me/points/redemptions")
@require(scopes.PATIENT)
@idempotent(current_patient_id)
@body(RedemptionIn)
def redeem(body):
    """Spend points on a reward (Idempotency-Key required); 409 when points are short."""
    now = utcnow()
    patient = current_patient()
    redemption = service.redeem(patient.id, body["reward_id"], now=now)
    out = {
        "id": redemption.id,
        "reward": RewardOut().dump(service.reward(redemption.reward_id)),
        "cost": redemption.cost,
        "balance": service.wallet(patient.id, now=now)["balance"],
        "created_at": redemption.created_at,
    }
    return RedemptionOut().dump(out), 201


@bp.get("/v1/rewards")
@public
def list_rewards():
    """The rewards on offer."""
    return {"items": RewardOut(many=True).dump(service.rewards())}


@bp.post("/v1/admin/rewards")
@require(scopes.ADMIN)
@body(RewardIn)
def create_reward(body):
    """Add a reward to the catalog."""
    reward = service.create_reward(body, now=utcnow())
    return RewardOut().dump(reward), 201, {"Location": url_for(".list_rewards")}


@bp.delete("/v1/admin/rewards/<uuid:reward_id>")
@require(scopes.ADMIN)
def retire_reward(reward_id: uuid.UUID):
    """Take a reward off the catalog."""
    service.retire_reward(reward_id)
    return "", 204


@bp.get("/v1/admin/points-terms")
@require(scopes.ADMIN)
def get_terms():
    """The split in force: trustee commission, patient share of the rest (basis points)."""
    return _terms_out(service.current_terms())


@bp.put("/v1/admin/points-terms")
@require(scopes.ADMIN)
@body(TermsIn)
def put_terms(body):
    """Change the split for uses reported from now on."""
    return _terms_out(service.set_terms(body, now=utcnow()))
