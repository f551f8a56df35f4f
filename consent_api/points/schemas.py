"""Input and output shapes of points, rewards, redemptions and the operator's terms."""

from __future__ import annotations

import uuid

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from consent_api import catalog
from consent_api.points import vouchers
from consent_api.points.models import FULFILMENTS, INSTRUCTIONS, VOUCHER_CODE
from consent_api.wording import visible


class WalletOut(Schema):
    balance = fields.Integer()
    expiring_soon = fields.Integer()


class StatementQuery(Schema):
    cursor = fields.String(validate=validate.Length(max=200))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class StatementLineOut(Schema):
    """A statement line that explains itself: which use, which organisation, purpose, the
    gross fee and the patient's share; or which reward; or which lot expired."""

    id = fields.UUID(attribute="entry.id")
    created_at = fields.DateTime(attribute="entry.created_at")
    amount = fields.Integer(attribute="entry.amount")
    kind = fields.String(attribute="transaction.kind")
    description = fields.Method("_description")
    transaction_id = fields.UUID(attribute="transaction.id")
    data_use = fields.Method("_data_use", allow_none=True)
    reward = fields.Method("_reward", allow_none=True)

    def _data_use(self, line):
        if line.transaction.kind != "use_fee":
            return None
        details = line.transaction.details
        purpose = details["purpose"]
        return {
            "id": str(line.transaction.data_use_id),
            "organisation": {"id": details["org_id"], "name": line.org_name or ""},
            "purpose": {"code": purpose, "label": catalog.PURPOSES.get(purpose, purpose)},
            "fee": details["fee"],
            "patient_share": line.entry.amount,
        }

    def _reward(self, line):
        if line.transaction.kind != "redemption":
            return None
        return {"name": line.reward_name or ""}

    def _description(self, line) -> str:
        kind, details = line.transaction.kind, line.transaction.details or {}
        if kind == "use_fee":
            purpose = catalog.PURPOSES.get(details["purpose"], details["purpose"])
            payer = line.org_name or "An organisation"
            share = line.entry.amount
            return (
                f"{payer} paid {details['fee']} points for {purpose}; "
                f"your share: {share} point{'s' if share != 1 else ''}."
            )
        if kind == "redemption":
            return f"Redeemed: {line.reward_name or 'a reward'}"
        if kind == "expiry":
            return "Points expired"
        return "Correction"


class StatementPageOut(Schema):
    """A page of the wallet's statement, newest first."""

    items = fields.List(fields.Nested(StatementLineOut))
    next_cursor = fields.String(allow_none=True)


class OrgPointsOut(Schema):
    """What an organisation paid as a data user, earned as a data holder, and the net of
    corrections; `balance` is what they come to."""

    paid = fields.Integer()
    earned = fields.Integer()
    corrected = fields.Integer()
    balance = fields.Integer()


class OrgStatementLineOut(Schema):
    """A line of an organisation's statement: a fee it paid for one of its uses, its share as
    the data holder of someone else's (who, and which use, are theirs to know), or a
    correction."""

    id = fields.UUID(attribute="entry.id")
    created_at = fields.DateTime(attribute="entry.created_at")
    amount = fields.Integer(attribute="entry.amount")
    kind = fields.String(attribute="transaction.kind")
    transaction_id = fields.UUID(attribute="transaction.id")
    role = fields.Method("_role", allow_none=True)
    data_use_id = fields.Method("_data_use_id", allow_none=True)
    purpose = fields.Method("_purpose", allow_none=True)
    fee = fields.Method("_fee", allow_none=True)
    description = fields.Method("_description")

    def _role(self, line) -> str | None:
        if line.transaction.kind != "use_fee":
            return None
        return "payer" if line.entry.amount < 0 else "holder"

    def _data_use_id(self, line) -> str | None:
        if self._role(line) != "payer":
            return None
        return str(line.transaction.data_use_id)

    def _purpose(self, line) -> dict | None:
        if line.transaction.kind != "use_fee":
            return None
        code = line.transaction.details["purpose"]
        return {"code": code, "label": catalog.PURPOSES.get(code, code)}

    def _fee(self, line) -> int | None:
        return line.transaction.details["fee"] if line.transaction.kind == "use_fee" else None

    def _description(self, line) -> str:
        role = self._role(line)
        if role is None:
            return "Correction"
        purpose = self._purpose(line)["label"]
        fee = line.transaction.details["fee"]
        if role == "payer":
            return f"You paid {fee} points for a use for {purpose}"
        return f"Your share as data holder of a {fee}-point fee for {purpose}"


class OrgStatementPageOut(Schema):
    """A page of an organisation's statement, newest first."""

    items = fields.List(fields.Nested(OrgStatementLineOut))
    next_cursor = fields.String(allow_none=True)


class RewardIn(Schema):
    name = fields.String(required=True, validate=[validate.Length(min=1, max=200), visible])
    description = fields.String(load_default="", validate=validate.Length(max=2000))
    cost = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=1, max=1_000_000_000)
    )
    fulfilment = fields.String(load_default=VOUCHER_CODE, validate=validate.OneOf(FULFILMENTS))
    instructions = fields.String(load_default="", validate=validate.Length(max=2000))

    @validates_schema
    def _instructions_given(self, data, **kwargs):
        if data.get("fulfilment") == INSTRUCTIONS and not data.get("instructions", "").strip():
            raise ValidationError("Say how the reward reaches the patient.", "instructions")


class RewardOut(Schema):
    id = fields.UUID()
    name = fields.String()
    description = fields.String()
    cost = fields.Integer()
    active = fields.Boolean()
    fulfilment = fields.String()
    instructions = fields.String()


def fulfilment(redeemed) -> dict:
    """How a redemption reaches the patient: its voucher code (if the reward has one) and
    the reward's instructions."""
    reward = redeemed.reward
    code = vouchers.code_for(redeemed.redemption.id) if reward.fulfilment == VOUCHER_CODE else None
    return {"kind": reward.fulfilment, "voucher_code": code, "instructions": reward.instructions}


class RedemptionIn(Schema):
    reward_id = fields.UUID(required=True)


class RewardListOut(Schema):
    items = fields.List(fields.Nested(RewardOut))


class RedemptionLineOut(Schema):
    """A redemption with its reward and how it is fulfilled."""

    id = fields.UUID(attribute="redemption.id")
    reward = fields.Nested(RewardOut)
    cost = fields.Integer(attribute="redemption.cost")
    created_at = fields.DateTime(attribute="redemption.created_at")
    fulfilment = fields.Function(fulfilment)


class RedemptionOut(RedemptionLineOut):
    """A new redemption, and the balance left after it."""

    balance = fields.Integer()


class RedemptionPageOut(Schema):
    """A page of the patient's redemptions, newest first."""

    items = fields.List(fields.Nested(RedemptionLineOut))
    next_cursor = fields.String(allow_none=True)


class RedemptionExportOut(Schema):
    """A redemption in the patient's export."""

    id = fields.UUID()
    reward_id = fields.UUID()
    cost = fields.Integer()
    created_at = fields.DateTime()


class TermsIn(Schema):
    """Basis points: 1,500 is 15 %."""

    commission_bp = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=0, max=10_000)
    )
    patient_share_bp = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=0, max=10_000)
    )


class TermsOut(Schema):
    commission_bp = fields.Integer()
    patient_share_bp = fields.Integer(attribute="patient_bp")


def without_voucher_code(answer: dict) -> dict:
    """A redemption's answer as the idempotency record keeps it: without its voucher code."""
    if (answer or {}).get("fulfilment", {}).get("voucher_code") is None:
        return answer
    return {**answer, "fulfilment": {**answer["fulfilment"], "voucher_code": None}}


def with_voucher_code(answer: dict) -> dict:
    """A kept redemption answer with its voucher code derived again (for a replay)."""
    fulfilment = (answer or {}).get("fulfilment")
    if not fulfilment or fulfilment.get("kind") != VOUCHER_CODE:
        return answer
    code = vouchers.code_for(uuid.UUID(answer["id"]))
    return {**answer, "fulfilment": {**fulfilment, "voucher_code": code}}
