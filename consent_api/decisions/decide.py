"""The decision core: may this organisation do this with this patient's data, now?

A pure function over the patient's candidate consents; no database, no clock. Semantics:

* Default deny: no consent naming the organisation (by id or by type) → `no_consent`.
* Each consent is evaluated on its own, FHIR-style: its exclusions are nested deny provisions
  that always win over its own grant. A request is permitted if any consent permits it.
* `all` never covers a sensitive category (`sensitive_not_named`).
* When nothing permits, the reason comes from the consent that came closest: scope first, then
  exclusions and status, then the clinical data period, then the use budget.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple

from consent_api.catalog import ALL, SENSITIVE
from consent_api.orgs.values import Org

PERMITTED = "permitted"
# How far a consent got before it failed; a higher rank is a closer match.
_RANK = {
    "out_of_scope": 0,
    "sensitive_not_named": 1,
    "revoked": 2,
    "expired": 3,
    "paused": 4,
    "not_yet_valid": 5,
    "excluded": 6,
    "outside_data_period": 7,
    "max_uses_reached": 8,
    PERMITTED: 9,
}
REASONS = (
    PERMITTED,
    "no_consent",
    "revoked",
    "expired",
    "paused",
    "not_yet_valid",
    "out_of_scope",
    "excluded",
    "sensitive_not_named",
    "outside_data_period",
    "max_uses_reached",
    "org_suspended",
)


@dataclass(frozen=True)
class Exclusion:
    """A deny exception: matches when every listed dimension matches (empty = any)."""

    data_categories: frozenset[str] = frozenset()
    purposes: frozenset[str] = frozenset()
    org_ids: frozenset[uuid.UUID] = frozenset()

    def matches(self, *, org_id: uuid.UUID, category: str, purpose: str) -> bool:
        """Whether this exclusion denies the request."""
        return (
            (not self.data_categories or category in self.data_categories)
            and (not self.purposes or purpose in self.purposes)
            and (not self.org_ids or org_id in self.org_ids)
        )


class ConsentTerms(NamedTuple):
    """What decide() needs to know of one consent (a tuple: a batch builds thousands)."""

    id: uuid.UUID
    version: int
    status: str
    grantee_org_id: uuid.UUID | None
    grantee_org_type: str | None
    data_categories: frozenset[str]
    purposes: frozenset[str]
    actions: frozenset[str]
    valid_from: datetime
    valid_until: datetime | None = None
    data_period_start: date | None = None
    data_period_end: date | None = None
    max_uses: int | None = None
    use_count: int = 0
    exclusions: tuple[Exclusion, ...] = ()


@dataclass(frozen=True)
class Decision:
    """The answer: permit or deny, a stable reason code, and the consent relied on."""

    decision: str
    reason: str
    consent_id: uuid.UUID | None = None
    consent_version: int | None = None

    @property
    def permitted(self) -> bool:
        """Whether the answer is permit."""
        return self.decision == "permit"


def names(consent: ConsentTerms, org: Org) -> bool:
    """Whether a consent's grantee is this organisation, by id or by type."""
    if consent.grantee_org_id is not None:
        return consent.grantee_org_id == org.id
    return consent.grantee_org_type == org.type


def evaluate(
    consent: ConsentTerms,
    *,
    org: Org,
    category: str,
    purpose: str,
    action: str,
    data_date: date | None,
    now: datetime,
    data_until: date | None = None,
) -> str:
    """Return the reason code one consent gives for the request (`permitted` or a deny).
    Records dated `data_date` (through `data_until`, for a range) must lie in its data period;
    without a date the request is about records of any date, which a consent limited to a
    data period does not cover (as for a data use without dates)."""
    if category not in consent.data_categories:
        if ALL in consent.data_categories and category in SENSITIVE:
            return "sensitive_not_named"
        if ALL not in consent.data_categories:
            return "out_of_scope"
    if purpose not in consent.purposes or action not in consent.actions:
        return "out_of_scope"
    if consent.status == "revoked":
        return "revoked"
    if consent.status == "expired" or (
        consent.valid_until is not None and consent.valid_until <= now
    ):
        return "expired"
    if consent.status == "paused":
        return "paused"
    if consent.status != "active":
        return "revoked"  # unknown states never permit
    if consent.valid_from > now:
        return "not_yet_valid"
    if any(
        exclusion.matches(org_id=org.id, category=category, purpose=purpose)
        for exclusion in consent.exclusions
    ):
        return "excluded"
    if data_date is None:
        data_date, data_until = date.min, date.max
    if (consent.data_period_start is not None and data_date < consent.data_period_start) or (
        consent.data_period_end is not None and (data_until or data_date) > consent.data_period_end
    ):
        return "outside_data_period"
    if consent.max_uses is not None and consent.use_count >= consent.max_uses:
        return "max_uses_reached"
    return PERMITTED


def decide(
    consents: Iterable[ConsentTerms],
    *,
    org: Org,
    category: str,
    purpose: str,
    action: str,
    data_date: date | None = None,
    now: datetime,
    data_until: date | None = None,
) -> Decision:
    """Decide one request against the patient's consents (any that do not name `org` are
    ignored). Deterministic: the permitting consent with an org-specific grant, then the
    highest version, then the smallest id wins; the same order breaks ties among denials."""
    if not org.active:
        return Decision("deny", "org_suspended")
    best: tuple[tuple, str, ConsentTerms] | None = None
    for consent in consents:
        if not names(consent, org):
            continue
        reason = evaluate(
            consent,
            org=org,
            category=category,
            purpose=purpose,
            action=action,
            data_date=data_date,
            now=now,
            data_until=data_until,
        )
        key = (_RANK[reason], consent.grantee_org_id is not None, consent.version, -consent.id.int)
        if best is None or key > best[0]:
            best = (key, reason, consent)
    if best is None:
        return Decision("deny", "no_consent")
    _, reason, consent = best
    return Decision(
        "permit" if reason == PERMITTED else "deny", reason, consent.id, consent.version
    )
