"""An organisation's side of the ledger: what it paid for uses as a data user, what it
earned as a data holder, and the corrections of either.

An organisation's account keeps no balance row (every paid use of a data user would queue
for it): its totals are the sums of its entries, read through the (account, created_at)
index.
"""

from __future__ import annotations

import uuid
from typing import Any, NamedTuple

from sqlalchemy import case, func, select

from consent_api.points import ledger
from consent_api.points.models import Entry
from consent_api.points.models import Transaction as LedgerTransaction
from server import pagination
from server.db import db


class Totals(NamedTuple):
    """Points paid for uses, earned as a data holder, and the net of corrections to either;
    the balance is what they come to (negative for a data user that has paid)."""

    paid: int
    earned: int
    corrected: int

    @property
    def balance(self) -> int:
        return self.earned - self.paid + self.corrected


def totals(org_id: uuid.UUID) -> Totals:
    """The organisation's totals, summed from its entries."""
    amount = Entry.amount
    is_fee = LedgerTransaction.kind == "use_fee"
    row = db.session.execute(
        select(
            func.coalesce(func.sum(case((is_fee & (amount < 0), -amount), else_=0)), 0),
            func.coalesce(func.sum(case((is_fee & (amount > 0), amount), else_=0)), 0),
            func.coalesce(func.sum(case((is_fee, 0), else_=amount)), 0),
        )
        .join(LedgerTransaction, LedgerTransaction.id == Entry.transaction_id)
        .where(Entry.account_id == ledger.account_id(ledger.ORGANISATION, org_id))
    ).one()
    return Totals(*(int(value) for value in row))


class OrgStatementLine(NamedTuple):
    """One entry of the organisation's account with its transaction."""

    entry: Entry
    transaction: LedgerTransaction


def statement(org_id: uuid.UUID, query: dict[str, Any]) -> pagination.Page:
    """One page of the organisation's entries, newest first."""
    page = ledger.entries_page(ledger.account_id(ledger.ORGANISATION, org_id), query)
    return pagination.Page([OrgStatementLine(*row) for row in page.items], page.next_cursor)
