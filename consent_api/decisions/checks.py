"""Parse consent checks and answer them. Check bodies are validated by hand: a batch holds
up to 10,000 items and this is the hot path (marshmallow costs tens of microseconds per item);
errors keep the same problem shape, field by field."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from consent_api import catalog
from consent_api.decisions import store
from consent_api.decisions.decide import Decision, decide
from consent_api.orgs.values import Org
from server.errors import ValidationFailed

MAX_BATCH = 10_000
FIELDS = {"patient_id", "data_category", "purpose", "action", "data_date"}


@dataclass(frozen=True)
class Check:
    """One question: may the caller do `action` with `data_category` for `purpose`?"""

    patient_id: uuid.UUID
    data_category: str
    purpose: str
    action: str
    data_date: date | None = None


def _code(item: dict, name: str, choices: dict, errors: dict) -> str | None:
    value = item.get(name)
    if value is None:
        errors[name] = ["Missing data for required field."]
    elif not isinstance(value, str) or value not in choices:
        errors[name] = [f"Must be one of: {', '.join(choices)}."]
    else:
        return value
    return None


def parse_check(item: Any) -> tuple[Check | None, dict[str, list[str]]]:
    """Return (check, {}) or (None, field errors) for one check body."""
    if not isinstance(item, dict):
        return None, {"_schema": ["Expected a JSON object."]}
    errors: dict[str, list[str]] = {}
    for unknown in item.keys() - FIELDS:
        errors[unknown] = ["Unknown field."]
    patient_id = None
    raw = item.get("patient_id")
    if raw is None:
        errors["patient_id"] = ["Missing data for required field."]
    else:
        try:
            patient_id = uuid.UUID(raw) if isinstance(raw, str) else None
        except ValueError:
            patient_id = None
        if patient_id is None:
            errors["patient_id"] = ["Not a valid UUID."]
    category = _code(item, "data_category", catalog.CATEGORIES, errors)
    purpose = _code(item, "purpose", catalog.PURPOSES, errors)
    action = _code(item, "action", catalog.ACTIONS, errors)
    data_date = None
    if item.get("data_date") is not None:
        try:
            data_date = date.fromisoformat(item["data_date"])
        except (TypeError, ValueError):
            errors["data_date"] = ["Not a valid date (YYYY-MM-DD)."]
    if errors:
        return None, errors
    return Check(patient_id, category, purpose, action, data_date), {}


def parse_one(body: Any) -> Check:
    """Parse a single check body or raise a 422 naming each bad field."""
    check, errors = parse_check(body)
    if errors:
        raise ValidationFailed(errors=errors)
    return check


def parse_batch(body: Any) -> list[Check]:
    """Parse {"checks": [...]} (1 to 10,000 items) or raise a 422 naming each bad item."""
    unknown = set(body) - {"checks"}
    if unknown or "checks" not in body:
        errors = {name: ["Unknown field."] for name in sorted(unknown)}
        if "checks" not in body:
            errors["checks"] = ["Missing data for required field."]
        raise ValidationFailed(errors=errors)
    items = body["checks"]
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
        raise ValidationFailed(errors={"checks": [f"Send a list of 1 to {MAX_BATCH} checks."]})
    checks, errors = [], {}
    for index, item in enumerate(items):
        check, item_errors = parse_check(item)
        if item_errors:
            errors[str(index)] = item_errors
        checks.append(check)
    if errors:
        raise ValidationFailed(errors={"checks": errors})
    return checks


def answer(checks: list[Check], *, org: Org, now: datetime) -> list[Decision]:
    """Answer checks in order, reading every patient's candidate consents in bulk."""
    consents = store.candidates((c.patient_id for c in checks), org)
    return [
        decide(
            consents.get(check.patient_id, ()),
            org=org,
            category=check.data_category,
            purpose=check.purpose,
            action=check.action,
            data_date=check.data_date,
            now=now,
        )
        for check in checks
    ]


def as_json(decision: Decision) -> dict[str, Any]:
    """Render one decision."""
    return {
        "decision": decision.decision,
        "reason": decision.reason,
        "consent_id": str(decision.consent_id) if decision.consent_id else None,
        "consent_version": decision.consent_version,
    }
