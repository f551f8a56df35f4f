"""Combine the decisions of one consult into LEAP's answer: pure, no database, no clock.

A consult asks about several data categories (its classes, or the whole record) for one or
more purposes. The decision core answers each (category, purpose) pair on its own against
the patient's consents: default deny, each consent judged alone with its exclusions winning
over its own grant, a pair permitted if any consent permits it (see `decisions/decide.py`).
This differs from LEAP, where the most recent consent wins and the others are not looked at.

The pairs combine so:

* a category is released only if every purpose asked is permitted for it (the data will
  serve all of them);
* every category released: `CONSENT_PERMIT`, no obligations;
* some released: `CONSENT_PERMIT` with one REDACT obligation naming each category that is
  not, in our data-category code system and, for a sensitive one, by its v3 sensitivity
  code too (so that a LEAP-style labeller finds it: ETH, MH, SEX, GDIS);
* none released: `CONSENT_DENY` when the patient has a consent naming the caller that does
  not allow this (any reason but `no_consent`), else `NO_CONSENT`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from consent_api import catalog
from consent_api.decisions.decide import PERMITTED, Decision

PERMIT, DENY, NO_CONSENT = "CONSENT_PERMIT", "CONSENT_DENY", "NO_CONSENT"
REDACT = {"system": catalog.ACT_CODE_SYSTEM, "code": "REDACT"}


@dataclass(frozen=True)
class Outcome:
    """One consult's answer: the decision, what is released and what is not, and why."""

    decision: str
    released: tuple[str, ...]  # categories permitted for every purpose asked
    withheld: tuple[str, ...]  # the others (redacted under a permit)
    reasons: dict[str, str]  # per category: `permitted`, or why not (first purpose denied)
    consents: tuple[tuple[uuid.UUID, int], ...]  # (id, version) relied on for `released`
    closest: tuple[uuid.UUID, int] | None = None  # a denial's consent that came closest

    @property
    def obligations(self) -> list[dict]:
        """LEAP obligations: one REDACT naming the withheld categories, under a partial permit."""
        if self.decision != PERMIT or not self.withheld:
            return []
        return [{"id": dict(REDACT), "parameters": {"codes": redact_codes(self.withheld)}}]


def redact_codes(categories: Sequence[str]) -> list[dict[str, str]]:
    """The codes a REDACT obligation names for these categories."""
    codes = []
    for category in categories:
        codes.append({"system": catalog.DATA_CATEGORY_SYSTEM, "code": category})
        if category in catalog.SENSITIVITY_CODES:
            code, _ = catalog.SENSITIVITY_CODES[category]
            codes.append({"system": catalog.ACT_CODE_SYSTEM, "code": code})
    return codes


def combine(
    decisions: Mapping[tuple[str, str], Decision],
    *,
    categories: Sequence[str],
    purposes: Sequence[str],
) -> Outcome:
    """Combine the decision of every (category, purpose) pair into one outcome."""
    released, withheld, reasons = [], [], {}
    consents: dict[tuple[uuid.UUID, int], None] = {}
    closest = None
    for category in categories:
        answers = [decisions[category, purpose] for purpose in purposes]
        denied = next((d for d in answers if not d.permitted), None)
        if denied is None:
            released.append(category)
            reasons[category] = PERMITTED
            consents.update(dict.fromkeys((d.consent_id, d.consent_version) for d in answers))
        else:
            withheld.append(category)
            reasons[category] = denied.reason
            if closest is None and denied.consent_id is not None:
                closest = (denied.consent_id, denied.consent_version)
    if released:
        decision = PERMIT
    elif any(reason != "no_consent" for reason in reasons.values()):
        decision = DENY
    else:
        decision = NO_CONSENT
    return Outcome(
        decision=decision,
        released=tuple(released),
        withheld=tuple(withheld),
        reasons=reasons,
        consents=tuple(consents),
        closest=closest if decision == DENY else None,
    )
