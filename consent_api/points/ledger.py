"""Post balanced transactions: the only way points move.

`post()` writes one transaction and its entries, keyed (a replay of the same key with the same
legs returns the first posting; with other legs it is a conflict), and keeps each patient
wallet's balance with a conditional UPDATE, so no wallet goes below zero, whatever runs
concurrently (the database's CHECK constraint is the last word). Wallet rows are updated in
account-id order, so two postings never wait on each other in a cycle. Lots (what expires
when) are kept beside the ledger by `lots.py`; entries themselves are append-only. Every
transaction written is in the audit log (`points.posted`), sealed under the patient's key
when a wallet moves.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import func, insert, select, update

from consent_api.audit import log as audit
from consent_api.points.models import Account, Entry, Transaction
from server import pagination
from server.db import core, db, insert_or_skip
from server.errors import Conflict

NAMESPACE = uuid.UUID("5a0c6f5e-1d7b-4c55-9a51-4f1f7f2b7a10")
WALLET = "patient"
ORGANISATION = "organisation"


def account_id(kind: str, owner_id: uuid.UUID | None = None) -> uuid.UUID:
    """The fixed id of an account: one per (kind, owner); system accounts have no owner."""
    return uuid.uuid5(NAMESPACE, f"{kind}:{owner_id or ''}")


TRUSTEE = account_id("trustee")
REDEMPTIONS = account_id("redemptions")
BREAKAGE = account_id("breakage")
SYSTEM = {TRUSTEE: "trustee", REDEMPTIONS: "redemptions", BREAKAGE: "breakage"}


class Leg(NamedTuple):
    """Points added to (negative: taken from) one account."""

    kind: str
    owner_id: uuid.UUID | None
    amount: int

    @property
    def account(self) -> uuid.UUID:
        return account_id(self.kind, self.owner_id)


def wallet(patient_id: uuid.UUID, amount: int) -> Leg:
    return Leg(WALLET, patient_id, amount)


def organisation(org_id: uuid.UUID, amount: int) -> Leg:
    return Leg(ORGANISATION, org_id, amount)


def system(account: uuid.UUID, amount: int) -> Leg:
    return Leg(SYSTEM[account], None, amount)


class InsufficientPoints(Conflict):
    """A wallet would go below zero."""

    code = "insufficient_points"


class Posted(NamedTuple):
    """A transaction, whether this call wrote it, and its entry ids by account."""

    transaction: Transaction
    created: bool
    entries: dict[uuid.UUID, uuid.UUID]


_accounts = Account.__table__
_entries = Entry.__table__
_transactions = Transaction.__table__
_TRANSACTION_COLUMNS = [column.key for column in _transactions.columns]


def _insert_ignoring_duplicates(rows: list[dict[str, Any]]):
    # Any clash: an account's id is derived from its (kind, owner), its other unique key.
    return insert_or_skip(_accounts).values(rows)


def _ensure_accounts(legs: Iterable[Leg], *, now: datetime) -> None:
    rows = {
        leg.account: {
            "id": leg.account,
            "kind": leg.kind,
            "owner_id": leg.owner_id or leg.account,
            "balance": 0,
            "created_at": now,
        }
        for leg in legs
    }
    # In id order, like the wallet updates: concurrent first postings never wait in a cycle.
    core().execute(_insert_ignoring_duplicates([rows[key] for key in sorted(rows)]))


def lock_wallet(patient_id: uuid.UUID, *, now: datetime) -> uuid.UUID:
    """Lock the patient's wallet row, creating it (empty) if need be, and return its id.

    Whoever spends or sweeps a wallet holds it before touching any other account: a posting
    that created a shared account (the first redemption creates `redemptions`) and then
    waited for a wallet another transaction had locked, while that one waited for the new
    account, would be a deadlock."""
    _ensure_accounts([wallet(patient_id, 0)], now=now)
    account = account_id(WALLET, patient_id)
    db.session.execute(select(Account.id).where(Account.id == account).with_for_update())
    return account


def _same(transaction: Transaction, legs: list[Leg]) -> bool:
    stored = db.session.execute(
        select(Entry.account_id, Entry.amount).where(Entry.transaction_id == transaction.id)
    ).all()
    return sorted((a, n) for a, n in stored) == sorted((leg.account, leg.amount) for leg in legs)


def post(
    key: str,
    kind: str,
    legs: Iterable[Leg],
    *,
    by: audit.Actor,
    now: datetime,
    data_use_id: uuid.UUID | None = None,
    reverses_id: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
) -> Posted:
    """Write one balanced transaction (`by` whom, for the audit log) and move wallet
    balances. Legs on the same account are added up; legs of zero are left out."""
    merged: dict[tuple[str, uuid.UUID | None], int] = {}
    for leg in legs:
        merged[leg.kind, leg.owner_id] = merged.get((leg.kind, leg.owner_id), 0) + leg.amount
    legs = [Leg(kind, owner, amount) for (kind, owner), amount in merged.items() if amount]
    if not legs or sum(leg.amount for leg in legs) != 0:
        raise ValueError(f"a transaction must balance: {legs!r}")
    transaction = Transaction(
        id=uuid.uuid4(),
        key=key,
        kind=kind,
        data_use_id=data_use_id,
        reverses_id=reverses_id,
        details=details or {},
        created_at=now,
    )
    # The key is claimed first, by the INSERT itself: a replay costs no extra look-up. Any
    # clash is the same claim (a reversal's `reverses_id`, also unique, is part of its key).
    claimed = (
        core()
        .execute(
            insert_or_skip(_transactions)
            .values({column: getattr(transaction, column) for column in _TRANSACTION_COLUMNS})
            .returning(_transactions.c.id)
        )
        .scalar_one_or_none()
    )
    if claimed is None:
        existing = db.session.scalar(select(Transaction).where(Transaction.key == key))
        if not _same(existing, legs):
            raise Conflict(
                "This ledger key was already posted with other amounts.",
                code="ledger_key_conflict",
            )
        return Posted(existing, False, {})
    _ensure_accounts(legs, now=now)
    for leg in sorted((leg for leg in legs if leg.kind == WALLET), key=lambda leg: leg.account):
        change = update(_accounts).where(_accounts.c.id == leg.account)
        if leg.amount < 0:
            change = change.where(_accounts.c.balance >= -leg.amount)
        moved = core().execute(change.values(balance=_accounts.c.balance + leg.amount)).rowcount
        if moved != 1:
            raise InsufficientPoints("Not enough points in the wallet.")
    entries = {leg.account: uuid.uuid4() for leg in legs}
    core().execute(
        insert(_entries),
        [
            {
                "id": entries[leg.account],
                "transaction_id": transaction.id,
                "account_id": leg.account,
                "amount": leg.amount,
                "created_at": now,
            }
            for leg in legs
        ],
    )
    _audited(transaction, legs, by=by, now=now)
    return Posted(transaction, True, entries)


def _audited(transaction: Transaction, legs: list[Leg], *, by: audit.Actor, now: datetime) -> None:
    wallets = [leg.owner_id for leg in legs if leg.kind == WALLET]
    patient_id = wallets[0] if len(wallets) == 1 else None
    subjects: dict[str, Any] = {"transaction": transaction.id}
    if patient_id is not None:
        subjects["patient"] = patient_id
    if transaction.data_use_id is not None:
        subjects["data_use"] = transaction.data_use_id
    if transaction.reverses_id is not None:
        subjects["reverses"] = transaction.reverses_id
    audit.record(
        "points.posted",
        actor=by,
        subjects=subjects,
        payload={
            "transaction": {
                "kind": transaction.kind,
                "key": transaction.key,
                "legs": [
                    {
                        "account": leg.kind,
                        "owner_id": None if leg.owner_id is None else str(leg.owner_id),
                        "amount": leg.amount,
                    }
                    for leg in legs
                ],
                "details": transaction.details,
            }
        },
        now=now,
        patient_id=patient_id,
    )


def wallet_balance(patient_id: uuid.UUID) -> int:
    """The wallet's kept balance (0 for a wallet never credited)."""
    return db.session.scalar(
        select(func.coalesce(func.max(Account.balance), 0)).where(
            Account.id == account_id(WALLET, patient_id)
        )
    )


def entries_page(account: uuid.UUID, query: dict[str, Any]) -> pagination.Page:
    """One page of an account's entries, newest first, each as (entry, transaction)."""
    rows = db.session.execute(
        pagination.page(
            select(Entry, Transaction)
            .join(Transaction, Transaction.id == Entry.transaction_id)
            .where(Entry.account_id == account),
            order_column=Entry.created_at,
            id_column=Entry.id,
            cursor=query.get("cursor"),
            limit=query["limit"],
            descending=True,
        )
    ).all()
    return pagination.envelope(
        rows, limit=query["limit"], order_attr="created_at", keyed_by=lambda row: row[0]
    )
