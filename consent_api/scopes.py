"""The OAuth scopes we issue, and which kind of client may hold which."""

from __future__ import annotations

PATIENT = "patient"
CONSENT_CHECK = "consent.check"
CONSENT_READ = "consent.read"
CONSENT_REQUEST = "consent.request"
DATA_USE_WRITE = "data_use.write"
ADMIN = "admin"

ALL = (PATIENT, CONSENT_CHECK, CONSENT_READ, CONSENT_REQUEST, DATA_USE_WRITE, ADMIN)
ORG_SCOPES = (CONSENT_CHECK, CONSENT_READ, CONSENT_REQUEST, DATA_USE_WRITE)

# What each type of organisation may be granted at most; a client may be narrowed further.
# Data holders check before they disclose; data users read the scopes they hold, ask for
# consent and report their uses. The operator only administers.
BY_ORG_TYPE: dict[str, tuple[str, ...]] = {
    "hospital": ORG_SCOPES,
    "pharma": (CONSENT_CHECK, CONSENT_READ, CONSENT_REQUEST, DATA_USE_WRITE),
    "research": (CONSENT_CHECK, CONSENT_READ, CONSENT_REQUEST, DATA_USE_WRITE),
    "insurer": (CONSENT_CHECK, CONSENT_READ, CONSENT_REQUEST, DATA_USE_WRITE),
    "operator": (ADMIN,),
}
ORG_TYPES = tuple(BY_ORG_TYPE)
DATA_ORG_TYPES = tuple(t for t in ORG_TYPES if t != "operator")


def parse(scope: str | None) -> list[str]:
    """Split a space-delimited scope string into its distinct scopes, in order."""
    seen: dict[str, None] = {}
    for item in (scope or "").split():
        seen.setdefault(item, None)
    return list(seen)
