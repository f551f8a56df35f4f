"""`consent-wallet ledger verify` in full: the ledger's own invariants (points/verify.py) and
that data uses and postings agree, every paid use posted exactly once and no unpaid one at
all. The check spans both packages, and uses depend on points, so it is put together here."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, select

from consent_api.points import verify as ledger
from consent_api.points.models import Transaction as LedgerTransaction
from consent_api.uses.models import DataUse
from server.db import db


def paid_uses_without_exactly_one_posting() -> int:
    """How many uses have a fee but not exactly one posting, or no fee but a posting."""
    postings = (
        select(LedgerTransaction.data_use_id, func.count().label("n"))
        .where(LedgerTransaction.kind == "use_fee")
        .group_by(LedgerTransaction.data_use_id)
        .subquery()
    )
    wrong = (
        select(func.count())
        .select_from(DataUse)
        .outerjoin(postings, postings.c.data_use_id == DataUse.id)
        .where(
            (DataUse.fee > 0) & (func.coalesce(postings.c.n, 0) != 1)
            | and_(DataUse.fee == 0, func.coalesce(postings.c.n, 0) != 0)
        )
    )
    return int(db.session.scalar(wrong) or 0)


def verify() -> dict[str, Any]:
    """Check every ledger invariant and the uses against their postings; counts and `ok`."""
    return ledger.verify(
        also={"paid_uses_without_exactly_one_posting": paid_uses_without_exactly_one_posting}
    )
