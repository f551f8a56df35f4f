"""Decide a reported use: the check API's decide(), once per data category, plus emergency
access. Pure: no database, no clock."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import NamedTuple

from consent_api.decisions.decide import ConsentTerms, Org, decide

EMERGENCY_PURPOSE = "ETREAT"
EMERGENCY_ORG_TYPE = "hospital"
EMERGENCY_ACCESS = "emergency_access"


class ReliedOn(NamedTuple):
    """A consent (at one version) that permitted some of the use's categories."""

    consent_id: uuid.UUID
    consent_version: int
    data_categories: tuple[str, ...]


class UseDecision(NamedTuple):
    """Permitted or refused, the reason code, and what the use relied on."""

    permitted: bool
    reason: str
    emergency: bool
    relied_on: tuple[ReliedOn, ...]


def is_emergency(org: Org, purpose: str) -> bool:
    """Emergency treatment by a hospital: break-glass access unless the patient opted out."""
    return purpose == EMERGENCY_PURPOSE and org.type == EMERGENCY_ORG_TYPE


def decide_use(
    consents: Sequence[ConsentTerms],
    *,
    org: Org,
    categories: Sequence[str],
    purpose: str,
    action: str,
    data_start: date | None,
    data_end: date | None,
    at: datetime,
    emergency_allowed: bool,
) -> UseDecision:
    """Every category must be permitted (the first refusal, in the order given, gives the
    reason), unless this is emergency access the patient has not opted out of. A report that
    does not say which records' dates it used is taken to cover all dates: a consent limited
    to a data period does not permit it."""
    if data_start is None:
        data_start, data_end = date.min, date.max
    relied: dict[tuple[uuid.UUID, int], list[str]] = {}
    refusal = None
    for category in categories:
        decision = decide(
            consents,
            org=org,
            category=category,
            purpose=purpose,
            action=action,
            data_date=data_start,
            data_until=data_end,
            now=at,
        )
        if decision.permitted:
            relied.setdefault((decision.consent_id, decision.consent_version), []).append(category)
        elif refusal is None:
            refusal = decision.reason
    emergency = is_emergency(org, purpose)
    relied_on = tuple(
        ReliedOn(cid, version, tuple(cats)) for (cid, version), cats in relied.items()
    )
    if refusal is None:
        return UseDecision(True, "permitted", emergency, relied_on)
    if emergency and emergency_allowed:
        return UseDecision(True, EMERGENCY_ACCESS, True, relied_on)
    return UseDecision(False, refusal, emergency, ())
