"""Input and output shapes of cohort counts and privacy budgets."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from consent_api import catalog
from consent_api.consents.schemas import PeriodSchema, codes
from consent_api.research.schemas import ReleasedOut

# A query spends at least this much (less buys noise too wide to tell anything) and at most
# this much (more would let a few queries spend a whole default budget's worth of privacy).
MIN_EPSILON, MAX_EPSILON, DEFAULT_EPSILON = 0.01, 1.0, 0.1


class JsonNumber(fields.Float):
    """A number as JSON writes one: marshmallow's Float also reads the string "0.5", which
    would be spent as if it were the number."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class CohortCountIn(Schema):
    """A scope (specific categories: `all` is no cohort) and the epsilon to spend on it."""

    data_categories = codes(tuple(catalog.CATEGORIES))
    purposes = codes(tuple(catalog.PURPOSES))
    actions = codes(tuple(catalog.ACTIONS))
    data_period = fields.Nested(PeriodSchema, load_default=None, allow_none=True)
    epsilon = JsonNumber(
        load_default=DEFAULT_EPSILON,
        validate=validate.Range(min=MIN_EPSILON, max=MAX_EPSILON),
    )


class BudgetIn(Schema):
    """The operator's budget for one organisation: epsilon per period, and the period."""

    total_epsilon = JsonNumber(required=True, validate=validate.Range(min=0, max=100))
    renews_every_days = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=1, max=3650)
    )


class BudgetOut(Schema):
    total_epsilon = fields.Float()
    spent_epsilon = fields.Float()
    remaining_epsilon = fields.Float()
    renews_every_days = fields.Integer()
    renews_at = fields.DateTime()


class NoiseOut(Schema):
    mechanism = fields.String()
    epsilon = fields.Float()
    sensitivity = fields.Integer()
    scale = fields.Float()
    accuracy_95 = fields.Integer()


class CohortCountOut(Schema):
    consenting = fields.Nested(ReleasedOut)
    invitable = fields.Nested(ReleasedOut)
    epsilon = fields.Float()
    noise = fields.Nested(NoiseOut)
    budget = fields.Nested(BudgetOut)
