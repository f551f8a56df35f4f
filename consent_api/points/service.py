"""Health points: credit paid uses, show the wallet and its statement, redeem, expire.

Every movement goes through `ledger.post`, inside the caller's transaction (services flush,
the request boundary or the job commits). A wallet's row is always locked before its lots,
so redemptions and the expiry sweep never deadlock each other.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from flask import current_app
from sqlalchemy import select

from consent_api import catalog
from consent_api.consents.service import org_names
from consent_api.points import ledger, lots
from consent_api.points.models import Account, Entry, Lot, PointsTerms, Redemption, Reward
from consent_api.points.models import Transaction as LedgerTransaction
from consent_api.points.split import Split, Terms, split
from server import pagination
from server.db import db
from server.errors import Conflict, NotFound, ValidationFailed


def current_terms() -> Terms:
    """The split in force: the operator's latest, else the configured defaults."""
    return terms_or_defaults(*db.session.execute(select(*latest_terms_columns())).one())


def latest_terms_columns() -> list[Any]:
    """The terms in force as two scalar subqueries, to ride along another query (NULL when the
    operator never set any: then the configured defaults apply)."""
    table = PointsTerms.__table__
    return [
        select(table.c[name]).order_by(table.c.created_at.desc()).limit(1).scalar_subquery()
        for name in ("commission_bp", "patient_bp")
    ]


def terms_or_defaults(commission_bp: int | None, patient_bp: int | None) -> Terms:
    """Terms read with `latest_terms_columns`, or the configured defaults."""
    if commission_bp is None:
        config = current_app.config
        return Terms(config["POINTS_COMMISSION_BP"], config["POINTS_PATIENT_SHARE_BP"])
    return Terms(commission_bp, patient_bp)


def set_terms(body: dict[str, Any], *, now: datetime) -> Terms:
    """Record new terms; they apply to uses reported from now on."""
    db.session.add(
        PointsTerms(
            commission_bp=body["commission_bp"], patient_bp=body["patient_share_bp"], created_at=now
        )
    )
    db.session.flush()
    return current_terms()


def _lot_expiry(now: datetime) -> datetime:
    return lots.add_months(now, current_app.config["POINTS_EXPIRY_MONTHS"])


class Priced(NamedTuple):
    """A paid use's fee, the terms in force and where the fee goes."""

    fee: int
    terms: Terms
    split: Split


def price(use: Any, terms: Terms | None = None) -> Priced:
    """Split a use's fee under the terms in force (before the use is written); the caller may
    have read the terms already (see `latest_terms_columns`)."""
    terms = terms or current_terms()
    return Priced(use.fee, terms, split(use.fee, terms, has_holder=use.holder_org_id is not None))


def post_use(use: Any, priced: Priced, *, now: datetime) -> int:
    """Post a paid use (data user pays; patient, holder and trustee earn); returns the
    patient's share. Keyed by the use's id: a second call posts nothing more."""
    fee, terms, parts = priced
    legs = [
        ledger.organisation(use.org_id, -fee),
        ledger.wallet(use.patient_id, parts.patient),
        ledger.system(ledger.TRUSTEE, parts.trustee),
    ]
    if use.holder_org_id is not None:
        legs.append(ledger.organisation(use.holder_org_id, parts.holder))
    posted = ledger.post(
        f"use:{use.id}",
        "use_fee",
        legs,
        now=now,
        data_use_id=use.id,
        details={
            "fee": fee,
            "org_id": str(use.org_id),
            "holder_org_id": str(use.holder_org_id) if use.holder_org_id else None,
            "purpose": use.purpose,
            "split": parts._asdict(),
            "terms": terms._asdict(),
        },
    )
    wallet = ledger.account_id(ledger.WALLET, use.patient_id)
    if posted.created and parts.patient:
        lots.open_lot(
            wallet, posted.entries[wallet], parts.patient, now=now, expires_at=_lot_expiry(now)
        )
    return parts.patient


def _lock_wallet(patient_id: uuid.UUID) -> uuid.UUID | None:
    account = ledger.account_id(ledger.WALLET, patient_id)
    return db.session.scalar(select(Account.id).where(Account.id == account).with_for_update())


def _sweep(patient_id: uuid.UUID, *, now: datetime) -> int:
    """Move the wallet's expired points to breakage, lot by lot; returns how many points."""
    account = _lock_wallet(patient_id)
    if account is None:
        return 0
    moved = 0
    for lot in lots.expired(account, now=now):
        ledger.post(
            f"expiry:{lot.id}",
            "expiry",
            [
                ledger.wallet(patient_id, -lot.remaining),
                ledger.system(ledger.BREAKAGE, lot.remaining),
            ],
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
    return sum(_sweep(owner, now=now) for owner in owners)


def warn_expiring(*, now: datetime, ahead: timedelta, batch: int = 500) -> int:
    """Tell each patient once per lot, `ahead` of time, that points will expire."""
    from notifications import notices

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


def wallet(patient_id: uuid.UUID, *, now: datetime) -> dict[str, Any]:
    """The balance (points not expired) and how many expire within the warning window."""
    account = ledger.account_id(ledger.WALLET, patient_id)
    window = timedelta(days=current_app.config["POINTS_EXPIRY_WARNING_DAYS"])
    return {
        "balance": lots.spendable(account, now=now),
        "expiring_soon": lots.spendable(account, now=now, within=now + window),
    }


def statement(patient_id: uuid.UUID, query: dict[str, Any]) -> tuple[list[Any], str | None]:
    """One page of the wallet's entries, newest first, each with its transaction."""
    account = ledger.account_id(ledger.WALLET, patient_id)
    rows = db.session.execute(
        pagination.page(
            select(Entry, LedgerTransaction)
            .join(LedgerTransaction, LedgerTransaction.id == Entry.transaction_id)
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


def present_statement(rows: list[Any]) -> list[dict[str, Any]]:
    """Statement lines that explain themselves: which use, which organisation, purpose, the
    gross fee and the patient's share; or which reward; or which lot expired."""
    names = org_names(t.details.get("org_id") for _, t in rows)
    rewards = dict(
        db.session.execute(
            select(Redemption.transaction_id, Reward.name)
            .join(Reward, Reward.id == Redemption.reward_id)
            .where(Redemption.transaction_id.in_([t.id for _, t in rows]))
        ).all()
    )
    lines = []
    for entry, transaction in rows:
        details = transaction.details or {}
        line = {
            "id": entry.id,
            "created_at": entry.created_at,
            "amount": entry.amount,
            "kind": transaction.kind,
            "transaction_id": transaction.id,
            "data_use": None,
            "reward": None,
        }
        if transaction.kind == "use_fee":
            org_id = uuid.UUID(details["org_id"])
            purpose = details["purpose"]
            line["data_use"] = {
                "id": transaction.data_use_id,
                "organisation": {"id": org_id, "name": names.get(str(org_id), "")},
                "purpose": {"code": purpose, "label": catalog.PURPOSES.get(purpose, purpose)},
                "fee": details["fee"],
                "patient_share": entry.amount,
            }
            line["description"] = (
                f"{names.get(str(org_id), 'An organisation')} paid {details['fee']} points "
                f"for {catalog.PURPOSES.get(purpose, purpose)}; your share"
            )
        elif transaction.kind == "redemption":
            line["reward"] = {"name": rewards.get(transaction.id, "")}
            line["description"] = f"Redeemed: {rewards.get(transaction.id, 'a reward')}"
        elif transaction.kind == "expiry":
            line["description"] = "Points expired"
        else:
            line["description"] = "Correction"
        lines.append(line)
    return lines


# --- rewards and redemptions ----------------------------------------------------------------


def rewards(*, active_only: bool = True) -> list[Reward]:
    """The rewards catalog, cheapest first."""
    statement = select(Reward).order_by(Reward.cost, Reward.name, Reward.id)
    if active_only:
        statement = statement.where(Reward.active.is_(True))
    return list(db.session.scalars(statement))


def create_reward(body: dict[str, Any], *, now: datetime) -> Reward:
    """Add a reward to the catalog (operator)."""
    reward = Reward(
        id=uuid.uuid4(),
        name=body["name"],
        description=body.get("description") or "",
        cost=body["cost"],
        active=True,
        created_at=now,
    )
    db.session.add(reward)
    db.session.flush()
    return reward


def reward(reward_id: uuid.UUID) -> Reward:
    """One reward, on offer or not."""
    found = db.session.get(Reward, reward_id)
    if found is None:
        raise NotFound("No such reward.")
    return found


def retire_reward(reward_id: uuid.UUID) -> Reward:
    """Take a reward off the catalog; past redemptions keep pointing at it."""
    reward = db.session.get(Reward, reward_id)
    if reward is None:
        raise NotFound("No such reward.")
    reward.active = False
    db.session.flush()
    return reward


def redeem(patient_id: uuid.UUID, reward_id: uuid.UUID, *, now: datetime) -> Redemption:
    """Spend points on a reward: one balanced transaction; 409 when the wallet is short."""
    reward = db.session.get(Reward, reward_id)
    if reward is None or not reward.active:
        raise ValidationFailed(errors={"reward_id": ["No such reward on offer."]})
    _sweep(patient_id, now=now)  # expired points are not spendable
    redemption_id = uuid.uuid4()
    posted = ledger.post(
        f"redemption:{redemption_id}",
        "redemption",
        [ledger.wallet(patient_id, -reward.cost), ledger.system(ledger.REDEMPTIONS, reward.cost)],
        now=now,
        details={"reward_id": str(reward.id), "cost": reward.cost},
    )
    lots.consume(ledger.account_id(ledger.WALLET, patient_id), reward.cost)
    redemption = Redemption(
        id=redemption_id,
        patient_id=patient_id,
        reward_id=reward.id,
        cost=reward.cost,
        transaction_id=posted.transaction.id,
        created_at=now,
    )
    db.session.add(redemption)
    db.session.flush()
    return redemption


def reverse(transaction_id: uuid.UUID, *, reason: str, now: datetime) -> LedgerTransaction:
    """Correct a mistaken transaction with its exact opposite (the operator's tool). Points
    taken back from a wallet come out of the lot they were credited to first; points given
    back open a new lot. A wallet that has already spent them makes this a 409."""
    original = db.session.get(LedgerTransaction, transaction_id)
    if original is None:
        raise NotFound("No such ledger transaction.")
    if original.kind == "reversal":
        raise Conflict("A reversal is not reversed; post a new transaction.", code="not_reversible")
    legs_of = db.session.execute(
        select(Entry.id, Entry.amount, Account.kind, Account.owner_id)
        .join(Account, Account.id == Entry.account_id)
        .where(Entry.transaction_id == original.id)
    ).all()
    legs = [
        ledger.Leg(kind, None if kind in ledger.SYSTEM.values() else owner, -amount)
        for _, amount, kind, owner in legs_of
    ]
    posted = ledger.post(
        f"reversal:{original.id}",
        "reversal",
        legs,
        now=now,
        reverses_id=original.id,
        details={"reason": reason, "reverses_kind": original.kind},
    )
    if not posted.created:
        raise Conflict("This transaction was already reversed.", code="already_reversed")
    for entry_id, amount, kind, owner in legs_of:
        if kind != ledger.WALLET:
            continue
        account = ledger.account_id(ledger.WALLET, owner)
        if amount > 0:  # a credit taken back: from its own lot first
            origin = db.session.scalar(select(Lot).where(Lot.entry_id == entry_id))
            taken = min(origin.remaining, amount) if origin is not None else 0
            if taken:
                origin.remaining -= taken
            if amount - taken:
                lots.consume(account, amount - taken)
        else:
            lots.open_lot(
                account, posted.entries[account], -amount, now=now, expires_at=_lot_expiry(now)
            )
    db.session.flush()
    return posted.transaction
