"""Input and output shapes of abuse detection's admin routes."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from consent_api.abuse.models import RULES, SEVERITIES, STATES
from consent_api.abuse.rules import LIMITS
from consent_api.wording import visible
from server.errors import ValidationFailed
from server.http import JSONBoolean


def _thresholds_schema(rule: str) -> type[Schema]:
    """A rule's thresholds, each a whole number within its range; all optional."""
    declared = {
        name: fields.Integer(strict=True, validate=validate.Range(min=low, max=high))
        for name, (_, low, high) in LIMITS[rule].items()
    }
    return Schema.from_dict(declared, name=f"{rule.title()}ThresholdsIn")


THRESHOLDS_IN = {rule: _thresholds_schema(rule) for rule in RULES}


class RuleChangeIn(Schema):
    """A change to one rule; what is left out stays. The thresholds are checked against the
    rule named in the path (see `validated`)."""

    enabled = JSONBoolean()
    severity = fields.String(validate=validate.OneOf(SEVERITIES))
    auto_suspend = JSONBoolean()
    thresholds = fields.Dict(
        keys=fields.String(), values=fields.Raw(), validate=validate.Length(min=1)
    )

    @validates_schema
    def _not_empty(self, data, **kwargs):
        if not data:
            raise ValidationError(
                "Give at least one of enabled, severity, auto_suspend, thresholds."
            )


class RuleOut(Schema):
    """A rule's settings in force, and its documented defaults."""

    rule = fields.String()
    enabled = fields.Boolean()
    severity = fields.String()
    auto_suspend = fields.Boolean()
    thresholds = fields.Dict(keys=fields.String(), values=fields.Integer())
    defaults = fields.Dict(keys=fields.String(), values=fields.Integer())


class RuleListOut(Schema):
    items = fields.List(fields.Nested(RuleOut))


class IncidentQuery(Schema):
    state = fields.String(validate=validate.OneOf(STATES))
    rule = fields.String(validate=validate.OneOf(RULES))
    severity = fields.String(validate=validate.OneOf(SEVERITIES))
    org_id = fields.UUID()
    cursor = fields.String(validate=validate.Length(max=200))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class DismissIn(Schema):
    """Why it is not abuse (required), and whether to lift the organisation's suspension."""

    note = fields.String(required=True, validate=[validate.Length(min=1, max=2000), visible])
    resume_org = JSONBoolean(load_default=False)


class EscalateIn(Schema):
    """A note (the suspension's reason, if it suspends: as long as a reason may be), and
    whether to suspend."""

    note = fields.String(load_default=None, validate=[validate.Length(min=1, max=500), visible])
    suspend = JSONBoolean(load_default=False)


class IncidentOrgOut(Schema):
    id = fields.UUID()
    name = fields.String()
    status = fields.String()


class IncidentOut(Schema):
    """An incident as the operator reviews it: the rule, the window, the evidence."""

    id = fields.UUID()
    org = fields.Nested(IncidentOrgOut)
    rule = fields.String()
    severity = fields.String()
    state = fields.String()
    window_start = fields.DateTime()
    window_end = fields.DateTime()
    first_seen_at = fields.DateTime()
    evidence = fields.Dict()
    patients = fields.Integer()
    suspended_org = fields.Boolean()
    opened_at = fields.DateTime()
    updated_at = fields.DateTime()
    decided_at = fields.DateTime(allow_none=True)
    decided_by = fields.UUID(allow_none=True)
    note = fields.String(allow_none=True)


class IncidentPageOut(Schema):
    items = fields.List(fields.Nested(IncidentOut))
    next_cursor = fields.String(allow_none=True)


def rule_change(rule: str, body: dict) -> dict:
    """The change with its thresholds checked against the rule's own (errors name
    `thresholds` and the threshold)."""
    if "thresholds" not in body:
        return body
    try:
        thresholds = THRESHOLDS_IN[rule]().load(body["thresholds"])
    except ValidationError as exc:
        raise ValidationFailed(errors={"thresholds": exc.messages}) from exc
    return {**body, "thresholds": thresholds}
