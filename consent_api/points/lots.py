"""Lots: each wallet credit is a lot that expires after the configured period; spending and
expiry take the oldest lots first. Lots mirror the wallet (their `remaining` adds up to its
balance, which `ledger verify` checks); the ledger entries stay the record."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, insert, select

from consent_api.points.models import Lot
from server.db import core, db


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time `months` later (the month's last day when it is shorter)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    for day in (moment.day, 30, 29, 28):
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise AssertionError("unreachable: every month has 28 days")


def open_lot(
    account: uuid.UUID, entry: uuid.UUID, amount: int, *, now: datetime, expires_at: datetime
) -> None:
    """Record a credit of `amount` points as a new lot."""
    core().execute(
        insert(Lot.__table__).values(
            id=uuid.uuid4(),
            account_id=account,
            entry_id=entry,
            amount=amount,
            remaining=amount,
            expires_at=expires_at,
            warned_at=None,
            created_at=now,
        )
    )


def consume(account: uuid.UUID, amount: int) -> None:
    """Take `amount` points from the wallet's lots, soonest-expiring first (the wallet's
    balance was already checked and reduced, and its row is locked, by the posting)."""
    lots = db.session.scalars(
        select(Lot)
        .where(Lot.account_id == account, Lot.remaining > 0)
        .order_by(Lot.expires_at, Lot.created_at, Lot.id)
    )
    left = amount
    for lot in lots:
        taken = min(lot.remaining, left)
        lot.remaining -= taken
        left -= taken
        if not left:
            break
    if left:
        raise AssertionError(f"wallet {account} lots are short of its balance by {left}")
    db.session.flush()


def expired(account: uuid.UUID, *, now: datetime) -> list[Lot]:
    """The wallet's lots past their date with points left (not yet swept)."""
    return list(
        db.session.scalars(
            select(Lot)
            .where(Lot.account_id == account, Lot.remaining > 0, Lot.expires_at <= now)
            .order_by(Lot.expires_at, Lot.id)
        )
    )


def spendable(account: uuid.UUID, *, now: datetime, within: datetime | None = None) -> int:
    """Points not yet expired (with `within`: only those expiring by then)."""
    statement = select(func.coalesce(func.sum(Lot.remaining), 0)).where(
        Lot.account_id == account, Lot.remaining > 0, Lot.expires_at > now
    )
    if within is not None:
        statement = statement.where(Lot.expires_at <= within)
    return int(db.session.scalar(statement))
