"""Points expire first-in, first-out (run by the worker's jobs, and before each redemption):
a wallet's expired lots move to breakage, and patients are warned ahead of time. A wallet's
row is always locked before its lots, so redemptions and this sweep never deadlock."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import select

from consent_api.audit import log as audit
from consent_api.points import ledger, lots, notices
from consent_api.points.models import Account, Lot
from server.db import db


def sweep_wallet(patient_id: uuid.UUID, *, now: datetime) -> int:
    """Lock the wallet, and move its expired points to breakage, lot by lot; returns how many
    points (a redemption sweeps first: expired points are not spendable)."""
    account = ledger.lock_wallet(patient_id, now=now)
    moved = 0
    for lot in lots.expired(account, now=now):
        ledger.post(
            f"expiry:{lot.id}",
            "expiry",
            [
                ledger.wallet(patient_id, -lot.remaining),
                ledger.system(ledger.BREAKAGE, lot.remaining),
            ],
            by=audit.SYSTEM,
            now=now,
            details={"lot_id": str(lot.id), "expired_at": lot.expires_at.isoformat()},
        )
        moved += lot.remaining
        lot.remaining = 0
    db.session.flush()
    return moved


def expire_due(*, now: datetime, batch: int = 500) -> int:
    """The breakage job: sweep every wallet with expired points; returns points moved."""
    owners = db.session.scalars(
        select(Account.owner_id)
        .join(Lot, Lot.account_id == Account.id)
        .where(Lot.remaining > 0, Lot.expires_at <= now)
        .distinct()
        .limit(batch)
    ).all()
    return sum(sweep_wallet(owner, now=now) for owner in owners)


def warn_expiring(*, now: datetime, ahead: timedelta, batch: int = 500) -> int:
    """Tell each patient once per lot, `ahead` of time, that points will expire."""
    due = db.session.execute(
        select(Lot, Account.owner_id)
        .join(Account, Account.id == Lot.account_id)
        .where(
            Lot.remaining > 0,
            Lot.warned_at.is_(None),
            Lot.expires_at > now,
            Lot.expires_at <= now + ahead,
        )
        .order_by(Lot.expires_at)
        .limit(batch)
        .with_for_update(of=Lot, skip_locked=True)
    ).all()
    by_patient: dict[uuid.UUID, list[Lot]] = defaultdict(list)
    for lot, patient_id in due:
        by_patient[patient_id].append(lot)
        lot.warned_at = now
    for patient_id, expiring in by_patient.items():
        points = sum(lot.remaining for lot in expiring)
        notices.points_expiring(
            patient_id, points, min(lot.expires_at for lot in expiring), now=now
        )
    db.session.flush()
    return len(by_patient)
