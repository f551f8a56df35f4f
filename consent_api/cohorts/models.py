"""An organisation's privacy budget for cohort counts: the epsilon it may spend per period."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from server.db import db, utcnow

# Epsilon is kept in millionths, as whole numbers: sums of floats drift (ten spends of 0.1
# may not add up to 1.0), and a budget check must be exact.
MICRO = 1_000_000


class PrivacyBudget(db.Model):
    """The epsilon an organisation may spend on cohort counts in one period, and has spent.

    Organisations are a shared, small table: no patient key (STYLE.md). An organisation
    without a row has the configured default, written at its first spend."""

    __tablename__ = "privacy_budgets"
    __table_args__ = (
        CheckConstraint("total_micro >= 0", name="total_not_negative"),
        CheckConstraint("spent_micro >= 0", name="spent_not_negative"),
        CheckConstraint("renews_every_days >= 1", name="renewal_positive"),
    )

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    total_micro: Mapped[int] = mapped_column(BigInteger)
    spent_micro: Mapped[int] = mapped_column(BigInteger, default=0)
    renews_every_days: Mapped[int] = mapped_column(Integer)
    period_started_at: Mapped[datetime]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
