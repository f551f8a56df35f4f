"""The points ledger: accounts, balanced transactions of append-only entries, and the lots
that let points expire first-in, first-out. Rewards and their redemptions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from server.db import db, utcnow, uuid_pk

ACCOUNT_KINDS = ("patient", "organisation", "trustee", "redemptions", "breakage")
TRANSACTION_KINDS = ("use_fee", "redemption", "expiry", "reversal")


class Account(db.Model):
    """A ledger account. Its balance is the sum of its entries; a patient wallet also keeps
    that sum in `balance`, so the database itself refuses to let it go below zero. (Other
    accounts, such as the trustee's, take part in every posting: a kept balance there would
    make every paid use in the system queue for one row.)"""

    __tablename__ = "ledger_accounts"
    __table_args__ = (
        CheckConstraint(f"kind IN {ACCOUNT_KINDS!r}", name="kind_known"),
        CheckConstraint("kind != 'patient' OR balance >= 0", name="wallet_never_negative"),
        CheckConstraint("kind = 'patient' OR balance = 0", name="balance_only_for_wallets"),
        UniqueConstraint("kind", "owner_id", name="one_per_owner"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    kind: Mapped[str] = mapped_column(String(20))
    owner_id: Mapped[uuid.UUID]
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Transaction(db.Model):
    """One balanced movement of points; never edited (a mistake gets a reversal)."""

    __tablename__ = "ledger_transactions"
    __table_args__ = (CheckConstraint(f"kind IN {TRANSACTION_KINDS!r}", name="kind_known"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    key: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    data_use_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("data_uses.id"), index=True)
    reverses_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("ledger_transactions.id"), unique=True
    )
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Entry(db.Model):
    """One leg of a transaction: `amount` added to (or, negative, taken from) an account."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint("amount != 0", name="amount_not_zero"),
        Index("ix_ledger_entries_account_created", "account_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    transaction_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("ledger_transactions.id"), index=True
    )
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_accounts.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Lot(db.Model):
    """Points credited to a wallet at one time, spent and expired oldest first."""

    __tablename__ = "point_lots"
    __table_args__ = (
        CheckConstraint("remaining >= 0 AND remaining <= amount", name="remaining_in_range"),
        Index("ix_point_lots_account_expires", "account_id", "expires_at"),
        Index("ix_point_lots_expires", "expires_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_accounts.id"))
    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_entries.id"), unique=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    remaining: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[datetime]
    warned_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PointsTerms(db.Model):
    """The operator's split, as set through the admin API; the newest row applies."""

    __tablename__ = "points_terms"
    __table_args__ = (
        CheckConstraint("commission_bp BETWEEN 0 AND 10000", name="commission_in_range"),
        CheckConstraint("patient_bp BETWEEN 0 AND 10000", name="patient_in_range"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    commission_bp: Mapped[int] = mapped_column(Integer)
    patient_bp: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


VOUCHER_CODE, INSTRUCTIONS = "voucher_code", "instructions"
FULFILMENTS = (VOUCHER_CODE, INSTRUCTIONS)


class Reward(db.Model):
    """Something patients can spend points on, maintained by the operator."""

    __tablename__ = "rewards"
    __table_args__ = (
        CheckConstraint("cost > 0", name="cost_positive"),
        CheckConstraint(f"fulfilment IN {FULFILMENTS!r}", name="fulfilment_known"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    cost: Mapped[int] = mapped_column(BigInteger)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # How a redemption is fulfilled: a voucher code (vouchers.py), or instructions alone;
    # the instructions go with a code too ("show it at a partner pharmacy").
    fulfilment: Mapped[str] = mapped_column(String(20), default=VOUCHER_CODE)
    instructions: Mapped[str] = mapped_column(Text, default="")


class Redemption(db.Model):
    """A patient spent points on a reward."""

    __tablename__ = "redemptions"

    id: Mapped[uuid.UUID] = uuid_pk()
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    reward_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("rewards.id"))
    cost: Mapped[int] = mapped_column(BigInteger)
    transaction_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("ledger_transactions.id"), unique=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
