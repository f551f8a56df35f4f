"""The OAuth scopes this API issues: the vocabulary every route's `@require` is checked against.

Which kind of client may hold which scope is the organisations' business (`consent_api.orgs`).
"""

from __future__ import annotations

PATIENT = "patient"
CONSENT_CHECK = "consent.check"
CONSENT_READ = "consent.read"
CONSENT_REQUEST = "consent.request"
DATA_USE_WRITE = "data_use.write"
PATIENT_LINK = "patient.link"
EVENTS_READ = "events.read"
WEBHOOK_MANAGE = "webhook.manage"
ORG_PROFILE = "org.profile"
COHORT_COUNT = "cohort.count"
ADMIN = "admin"

ORG_SCOPES = (
    CONSENT_CHECK,
    CONSENT_READ,
    CONSENT_REQUEST,
    DATA_USE_WRITE,
    PATIENT_LINK,
    EVENTS_READ,
    WEBHOOK_MANAGE,
    ORG_PROFILE,
    COHORT_COUNT,
)
ALL = (PATIENT, *ORG_SCOPES, ADMIN)

# SMART on FHIR's system scopes (App Launch v2, and v1's spelling) that Backend Services
# clients ask for, taken as aliases of ours at the token endpoint: reading and searching
# Consent is consent.read. A token holds ours; its answer names the scope as asked.
ALIASES = {"system/Consent.rs": CONSENT_READ, "system/Consent.read": CONSENT_READ}


def parse(scope: str | None) -> list[str]:
    """Split a space-delimited scope string into its distinct scopes, in order."""
    seen: dict[str, None] = {}
    for item in (scope or "").split():
        seen.setdefault(item, None)
    return list(seen)


def canonical(scope: str | None) -> list[str]:
    """Our scopes that a requested scope string stands for: each alias read as ours,
    distinct, in order."""
    return parse(" ".join(ALIASES.get(item, item) for item in parse(scope)))
