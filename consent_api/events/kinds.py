"""The kinds of event an organisation can be told of, in the order of the README's table."""

from __future__ import annotations

CONSENT_GRANTED = "consent.granted"
CONSENT_AMENDED = "consent.amended"
CONSENT_PAUSED = "consent.paused"
CONSENT_RESUMED = "consent.resumed"
CONSENT_REVOKED = "consent.revoked"
CONSENT_EXPIRED = "consent.expired"
REQUEST_APPROVED = "consent_request.approved"
REQUEST_DENIED = "consent_request.denied"
REQUEST_LAPSED = "consent_request.lapsed"
PATIENT_ERASED = "patient.erased"
ORG_SUSPENDED = "org.suspended"
ORG_RESUMED = "org.resumed"
ORG_INCIDENT_OPENED = "org.incident_opened"
ORG_INCIDENT_CLOSED = "org.incident_closed"
ENDPOINT_DISABLED = "webhook_endpoint.disabled"

# A consent's kept version names its change ("created", "revoked", ...): its event's kind.
BY_CONSENT_CHANGE = {
    "created": CONSENT_GRANTED,
    "amended": CONSENT_AMENDED,
    "paused": CONSENT_PAUSED,
    "resumed": CONSENT_RESUMED,
    "revoked": CONSENT_REVOKED,
    "expired": CONSENT_EXPIRED,
}
CONSENT_KINDS = tuple(BY_CONSENT_CHANGE.values())
ALL = (
    *CONSENT_KINDS,
    REQUEST_APPROVED,
    REQUEST_DENIED,
    REQUEST_LAPSED,
    PATIENT_ERASED,
    ORG_SUSPENDED,
    ORG_RESUMED,
    ORG_INCIDENT_OPENED,
    ORG_INCIDENT_CLOSED,
    ENDPOINT_DISABLED,
)
