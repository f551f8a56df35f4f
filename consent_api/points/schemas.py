"""Input and output shapes of points, rewards, redemptions and the operator's terms."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from consent_api.uses.schemas import CodeLabelOut, OrgRefOut


class WalletOut(Schema):
    balance = fields.Integer()
    expiring_soon = fields.Integer()


class StatementQuery(Schema):
    cursor = fields.String(validate=validate.Length(max=200))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class StatementUseOut(Schema):
    id = fields.UUID()
    organisation = fields.Nested(OrgRefOut)
    purpose = fields.Nested(CodeLabelOut)
    fee = fields.Integer()
    patient_share = fields.Integer()


class StatementRewardOut(Schema):
    name = fields.String()


class StatementLineOut(Schema):
    id = fields.UUID()
    created_at = fields.DateTime()
    amount = fields.Integer()
    kind = fields.String()
    description = fields.String()
    transaction_id = fields.UUID()
    data_use = fields.Nested(StatementUseOut, allow_none=True)
    reward = fields.Nested(StatementRewardOut, allow_none=True)


class RewardIn(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = fields.String(load_default="", validate=validate.Length(max=2000))
    cost = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=1, max=1_000_000_000)
    )


class RewardOut(Schema):
    id = fields.UUID()
    name = fields.String()
    description = fields.String()
    cost = fields.Integer()
    active = fields.Boolean()


class RedemptionIn(Schema):
    reward_id = fields.UUID(required=True)


class RedemptionOut(Schema):
    id = fields.UUID()
    reward = fields.Nested(RewardOut)
    cost = fields.Integer()
    balance = fields.Integer()
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
    patient_share_bp = fields.Integer()
