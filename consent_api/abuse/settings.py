"""The rules' settings in force: the operator's, over the documented defaults."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from consent_api.abuse.models import RULES, AbuseRule
from consent_api.abuse.rules import DEFAULTS, Settings
from consent_api.audit import log as audit
from server.db import db
from server.errors import NotFound

CHANGED = "abuse_rule.changed"


def _of(row: AbuseRule) -> Settings:
    default = DEFAULTS[row.rule]
    # A threshold added to a rule since the row was written takes its default.
    thresholds = {
        **default.thresholds,
        **{k: v for k, v in row.thresholds.items() if k in default.thresholds},
    }
    return Settings(row.rule, row.enabled, row.severity, row.auto_suspend, thresholds)


def all_settings() -> dict[str, Settings]:
    """Every rule's settings, in the rules' order."""
    stored = {row.rule: _of(row) for row in db.session.scalars(select(AbuseRule))}
    return {rule: stored.get(rule, DEFAULTS[rule]) for rule in RULES}


def get(rule: str) -> Settings:
    if rule not in RULES:
        raise NotFound("No such rule.")
    row = db.session.get(AbuseRule, rule)
    return DEFAULTS[rule] if row is None else _of(row)


def change(rule: str, changes: dict[str, Any], *, by: Any, now: datetime) -> Settings:
    """Change a rule's settings (what is left out stays), audited as the operator's action."""
    before = get(rule)
    after = before.merged(changes)
    row = db.session.get(AbuseRule, rule, with_for_update=True)
    if row is None:
        row = AbuseRule(rule=rule)
        db.session.add(row)
    row.enabled, row.severity, row.auto_suspend = after.enabled, after.severity, after.auto_suspend
    row.thresholds, row.updated_at = dict(after.thresholds), now
    db.session.flush()
    audit.operator_action(
        CHANGED,
        by=by,
        subjects={"rule": rule},
        payload={
            "enabled": after.enabled,
            "severity": after.severity,
            "auto_suspend": after.auto_suspend,
            "thresholds": dict(after.thresholds),
        },
        now=now,
    )
    return after
