"""Health points: credit paid uses, show the wallet and its statement, redeem, expire.

Every movement goes through `ledger.post`, inside the caller's transaction (services flush,
the request boundary or the job commits). A wallet's row is always locked before its lots,
so redemptions and the expiry sweep never deadlock each other.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from flask import current_app
from sqlalchemy import select

from consent_api.audit import log as audit
from consent_api.orgs.names import org_names
from consent_api.points import ledger, lots, notices, sweeps
from consent_api.points.models import (
    VOUCHER_CODE,
    Account,
    Entry,
    Lot,
    PointsTerms,
    Redemption,
    Reward,
)
from consent_api.points.models import Transaction as LedgerTransaction
from consent_api.points.split import Split, Terms, split
from server import pagination
from server.db import db
from server.errors import Conflict, NotFound, ValidationFailed


def current_terms() -> Terms:
    """The split in force: the operator's latest, else the configured defaults."""
    return terms_or_defaults(*db.session.execute(select(*latest_terms_columns())).one())


def latest_terms_columns() -> list[Any]:
    """The terms in force as two scalar subqueries labelled `commission_bp` and `patient_bp`,
    to ride along another query (NULL when the operator never set any: then the configured
    defaults apply)."""
    table = PointsTerms.__table__
    return [
        select(table.c[name])
        .order_by(table.c.created_at.desc())
        .limit(1)
        .scalar_subquery()
        .label(name)
        for name in ("commission_bp", "patient_bp")
    ]


def terms_or_defaults(commission_bp: int | None, patient_bp: int | None) -> Terms:
    """Terms read with `latest_terms_columns`, or the configured defaults."""
    if commission_bp is None:
        config = current_app.config
        return Terms(config["POINTS_COMMISSION_BP"], config["POINTS_PATIENT_SHARE_BP"])
    return Terms(commission_bp, patient_bp)


TERMS_CHANGED = "points.terms_changed"
REWARD_CREATED, REWARD_RETIRED = "points.reward_created", "points.reward_retired"


def set_terms(body: dict[str, Any], *, by: uuid.UUID | None, now: datetime) -> Terms:
    """Record new terms (an operator's action, audited); they apply to uses reported from
    now on."""
    terms = PointsTerms(
        id=uuid.uuid4(),
        commission_bp=body["commission_bp"],
        patient_bp=body["patient_share_bp"],
        created_at=now,
    )
    db.session.add(terms)
    db.session.flush()
    audit.operator_action(
        TERMS_CHANGED,
        by=by,
        subjects={"terms": terms.id},
        payload={"commission_bp": terms.commission_bp, "patient_share_bp": terms.patient_bp},
        now=now,
    )
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
        by=audit.Actor.organisation(use.org_id),
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


class Wallet(NamedTuple):
    """A wallet's spendable points, and how many of them expire within the warning window."""

    balance: int
    expiring_soon: int


def wallet(patient_id: uuid.UUID, *, now: datetime) -> Wallet:
    """The balance (points not expired) and how many expire within the warning window."""
    account = ledger.account_id(ledger.WALLET, patient_id)
    window = timedelta(days=current_app.config["POINTS_EXPIRY_WARNING_DAYS"])
    return Wallet(
        balance=lots.spendable(account, now=now),
        expiring_soon=lots.spendable(account, now=now, within=now + window),
    )


class StatementLine(NamedTuple):
    """One entry of a wallet's statement with its transaction, and the names it refers to:
    the paying organisation's (a use fee) or the reward's (a redemption)."""

    entry: Entry
    transaction: LedgerTransaction
    org_name: str | None = None
    reward_name: str | None = None


def statement(patient_id: uuid.UUID, query: dict[str, Any]) -> pagination.Page:
    """One page of the wallet's entries, newest first, each explained."""
    page = ledger.entries_page(ledger.account_id(ledger.WALLET, patient_id), query)
    return pagination.Page(_explained(page.items), page.next_cursor)


def _explained(rows: list[Any]) -> list[StatementLine]:
    """The rows as statement lines, their organisations' and rewards' names read in bulk."""
    names = org_names(t.details.get("org_id") for _, t in rows)
    rewards = dict(
        db.session.execute(
            select(Redemption.transaction_id, Reward.name)
            .join(Reward, Reward.id == Redemption.reward_id)
            .where(Redemption.transaction_id.in_([t.id for _, t in rows]))
        ).all()
    )
    return [
        StatementLine(
            entry,
            transaction,
            org_name=names.get(str((transaction.details or {}).get("org_id"))),
            reward_name=rewards.get(transaction.id),
        )
        for entry, transaction in rows
    ]


# --- rewards and redemptions ----------------------------------------------------------------


def rewards(*, active_only: bool = True) -> list[Reward]:
    """The rewards catalog, cheapest first."""
    statement = select(Reward).order_by(Reward.cost, Reward.name, Reward.id)
    if active_only:
        statement = statement.where(Reward.active.is_(True))
    return list(db.session.scalars(statement))


def create_reward(body: dict[str, Any], *, by: uuid.UUID | None, now: datetime) -> Reward:
    """Add a reward to the catalog (an operator's action, audited)."""
    reward = Reward(
        id=uuid.uuid4(),
        name=body["name"],
        description=body.get("description") or "",
        cost=body["cost"],
        active=True,
        created_at=now,
        fulfilment=body.get("fulfilment", VOUCHER_CODE),
        instructions=body.get("instructions", ""),
    )
    db.session.add(reward)
    db.session.flush()
    audit.operator_action(
        REWARD_CREATED,
        by=by,
        subjects={"reward": reward.id},
        payload={
            field: getattr(reward, field)
            for field in ("name", "description", "cost", "fulfilment", "instructions")
        },
        now=now,
    )
    return reward


def reward(reward_id: uuid.UUID) -> Reward:
    """One reward, on offer or not."""
    found = db.session.get(Reward, reward_id)
    if found is None:
        raise NotFound("No such reward.")
    return found


def retire_reward(reward_id: uuid.UUID, *, by: uuid.UUID | None, now: datetime) -> Reward:
    """Take a reward off the catalog (an operator's action, audited once: retiring a retired
    reward changes nothing); past redemptions keep pointing at it."""
    reward = db.session.get(Reward, reward_id)
    if reward is None:
        raise NotFound("No such reward.")
    if reward.active:
        reward.active = False
        db.session.flush()
        audit.operator_action(
            REWARD_RETIRED,
            by=by,
            subjects={"reward": reward.id},
            payload={"active": False},
            now=now,
        )
    return reward


class Redeemed(NamedTuple):
    """A redemption, its reward, and the wallet's balance after it."""

    redemption: Redemption
    reward: Reward
    balance: int


def redeem(patient_id: uuid.UUID, reward_id: uuid.UUID, *, now: datetime) -> Redeemed:
    """Spend points on a reward: one balanced transaction; 409 when the wallet is short."""
    reward = db.session.get(Reward, reward_id)
    if reward is None or not reward.active:
        raise ValidationFailed(errors={"reward_id": ["No such reward on offer."]})
    sweeps.sweep_wallet(patient_id, now=now)  # expired points are not spendable
    redemption_id = uuid.uuid4()
    posted = ledger.post(
        f"redemption:{redemption_id}",
        "redemption",
        [ledger.wallet(patient_id, -reward.cost), ledger.system(ledger.REDEMPTIONS, reward.cost)],
        by=audit.Actor.patient(patient_id),
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
    notices.reward_redeemed(redemption, reward.name, now=now)
    audit.record(
        "points.redeemed",
        actor=audit.Actor.patient(patient_id),
        subjects={
            "patient": patient_id,
            "redemption": redemption_id,
            "reward": reward.id,
            "transaction": posted.transaction.id,
        },
        payload={"reward": reward.name, "cost": reward.cost},
        now=now,
        patient_id=patient_id,
    )
    return Redeemed(redemption, reward, wallet(patient_id, now=now).balance)


class RedemptionLine(NamedTuple):
    """A past redemption and its reward."""

    redemption: Redemption
    reward: Reward


def redemptions(patient_id: uuid.UUID, query: dict[str, Any]) -> pagination.Page:
    """A page of the patient's redemptions, newest first, each with its reward."""
    statement = (
        select(Redemption, Reward)
        .join(Reward, Reward.id == Redemption.reward_id)
        .where(Redemption.patient_id == patient_id)
    )
    rows = db.session.execute(
        pagination.page(
            statement,
            order_column=Redemption.created_at,
            id_column=Redemption.id,
            cursor=query.get("cursor"),
            limit=query["limit"],
            descending=True,
        )
    ).all()
    page = pagination.envelope(
        rows, limit=query["limit"], order_attr="created_at", keyed_by=lambda row: row[0]
    )
    return pagination.Page([RedemptionLine(*row) for row in page.items], page.next_cursor)


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
        by=audit.Actor.operator(),
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
