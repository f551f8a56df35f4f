"""`consent-wallet ledger verify`: the invariants that make points provably exact, each one
aggregate query, so a million postings take seconds."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import func, select

from consent_api.points.models import Account, Entry, Lot
from consent_api.points.models import Transaction as LedgerTransaction
from server.db import db


def _scalar(statement) -> int:
    return int(db.session.scalar(statement) or 0)


def verify(*, also: Mapping[str, Callable[[], int]] | None = None) -> dict[str, Any]:
    """Check every invariant of the ledger, and the `also` checks of those who post to it
    (each a count of what is wrong); returns the counts found and `ok`."""
    per_transaction = (
        select(Entry.transaction_id)
        .group_by(Entry.transaction_id)
        .having(func.sum(Entry.amount) != 0)
    ).subquery()
    sums = (
        select(Entry.account_id, func.sum(Entry.amount).label("total"))
        .group_by(Entry.account_id)
        .subquery()
    )
    wallets_off = (
        select(func.count())
        .select_from(Account)
        .outerjoin(sums, sums.c.account_id == Account.id)
        .where(Account.kind == "patient", Account.balance != func.coalesce(sums.c.total, 0))
    )
    lot_sums = (
        select(Lot.account_id, func.sum(Lot.remaining).label("remaining"))
        .group_by(Lot.account_id)
        .subquery()
    )
    lots_off = (
        select(func.count())
        .select_from(Account)
        .outerjoin(lot_sums, lot_sums.c.account_id == Account.id)
        .where(Account.kind == "patient", Account.balance != func.coalesce(lot_sums.c.remaining, 0))
    )
    found = {
        "postings": _scalar(select(func.count()).select_from(LedgerTransaction)),
        "entries": _scalar(select(func.count()).select_from(Entry)),
        "sum_of_all_entries": _scalar(select(func.coalesce(func.sum(Entry.amount), 0))),
        "unbalanced_transactions": _scalar(select(func.count()).select_from(per_transaction)),
        "wallets_not_matching_entries": _scalar(wallets_off),
        "wallets_not_matching_lots": _scalar(lots_off),
        "negative_wallets": _scalar(
            select(func.count()).where(Account.kind == "patient", Account.balance < 0)
        ),
        **{name: check() for name, check in (also or {}).items()},
    }
    found["ok"] = not any(v for k, v in found.items() if k not in ("postings", "entries"))
    return found
