"""Parse consent checks and answer them. Check bodies are validated by hand: a batch holds
up to 10,000 items and this is the hot path (marshmallow costs tens of microseconds per item);
errors keep the same problem shape, field by field."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from consent_api import catalog
from consent_api.decisions import store
from consent_api.decisions.decide import ConsentTerms, Decision, decide
from consent_api.links import naming, refs
from consent_api.orgs.values import Org
from server.errors import ValidationFailed

MAX_BATCH = 10_000
FIELDS = {*naming.FIELDS, "data_category", "purpose", "action", "data_date"}


@dataclass(frozen=True)
class Check:
    """One question: may the caller do `action` with `data_category` for `purpose`, with the
    patient it names (by its reference, or its identifier of a linked patient)?"""

    patient: naming.Named
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
    patient = naming.parse(item, errors)
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
    return Check(patient, category, purpose, action, data_date), {}


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


def _candidates(
    checks: list[Check], org: Org
) -> tuple[list[list[ConsentTerms] | None], dict[int, dict[str, list[str]]]]:
    """Each check's candidate consents (None: it names no patient of the caller's), and the
    field errors of those, by index. References decode by computation; identifiers resolve
    in the same statement that reads their consents: one round trip either way (two for a
    batch that mixes both)."""
    by_ref = [(n, c.patient.ref) for n, c in enumerate(checks) if c.patient.ref is not None]
    by_identifier = [
        (n, c.patient.identifier) for n, c in enumerate(checks) if c.patient.ref is None
    ]
    found: list[list[ConsentTerms] | None] = [None] * len(checks)
    unknown: dict[int, dict[str, list[str]]] = {}
    if by_ref:
        patient_ids = refs.decode_many(org.id, [ref for _, ref in by_ref])
        consents = store.candidates((p for p in patient_ids if p is not None), org)
        for (n, _), patient_id in zip(by_ref, patient_ids, strict=True):
            if patient_id is None:
                unknown[n] = {naming.REF: [naming.UNKNOWN_REF]}
            else:
                found[n] = consents.get(patient_id, [])
    if by_identifier:
        linked = store.candidates_by_identifier([i for _, i in by_identifier], org)
        for n, identifier in by_identifier:
            if identifier in linked:
                found[n] = linked[identifier]
            else:
                unknown[n] = {naming.IDENTIFIER: [naming.UNLINKED]}
    return found, unknown


def answer(checks: list[Check], *, org: Org, now: datetime, batch: bool = True) -> list[Decision]:
    """Answer checks in order, reading every patient's candidate consents in bulk; a check
    naming no patient of the caller's fails the whole request (`UnknownPatient`, naming it)."""
    found, unknown = _candidates(checks, org)
    if unknown:
        if not batch:
            raise naming.UnknownPatient(unknown[0])
        raise naming.UnknownPatient({"checks": {str(n): e for n, e in sorted(unknown.items())}})
    return [
        decide(
            consents,
            org=org,
            category=check.data_category,
            purpose=check.purpose,
            action=check.action,
            data_date=check.data_date,
            now=now,
        )
        for check, consents in zip(checks, found, strict=True)
    ]


def as_json(decisions: list[Decision], org: Org) -> list[dict[str, Any]]:
    """Render decisions, each consent by the id the organisation knows it by (one AES call
    for the whole batch)."""
    named = [d.consent_id for d in decisions if d.consent_id is not None]
    shown = iter(refs.shown_consent_ids(org.id, named))
    return [
        {
            "decision": d.decision,
            "reason": d.reason,
            "consent_id": str(next(shown)) if d.consent_id is not None else None,
            "consent_version": d.consent_version,
        }
        for d in decisions
    ]
