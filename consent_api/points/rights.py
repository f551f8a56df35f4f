"""The points package's part in the patient's export. The ledger itself stays after erasure:
its entries are append-only and name the patient only by id."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from consent_api.patients.models import Patient
from consent_api.points import service
from consent_api.points.models import Redemption
from consent_api.points.schemas import RedemptionExportOut, StatementLineOut, WalletOut
from server.db import db
from server.http import dump


def export_for(patient: Patient, *, now: datetime) -> dict[str, Any]:
    """The wallet, its whole statement (newest first) and every redemption."""
    lines = service.statement(patient.id, {"limit": 10**9}).items
    redeemed = db.session.scalars(
        select(Redemption)
        .where(Redemption.patient_id == patient.id)
        .order_by(Redemption.created_at, Redemption.id)
    ).all()
    return {
        "points": {
            **dump(WalletOut(), service.wallet(patient.id, now=now), now=now),
            "ledger": dump(StatementLineOut(many=True), lines, now=now),
            "redemptions": dump(RedemptionExportOut(many=True), redeemed, now=now),
        }
    }
