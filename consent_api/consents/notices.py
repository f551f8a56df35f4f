"""What the patient is told about their consents: ending soon, ended, withdrawn.

Each writes one inbox notice (and its pushes) in the caller's transaction; the types are
stable codes the app may switch on."""

from __future__ import annotations

import uuid
from datetime import datetime

from consent_api.consents.models import Consent
from consent_api.consents.receipts import receipt_id
from consent_api.wording import ORG_TYPE_PLURALS, day, join_words
from notifications.models import Notification
from notifications.outbox import notify

CONSENT_EXPIRING = "consent_expiring"
CONSENT_EXPIRED = "consent_expired"
CONSENT_REVOKED = "consent_revoked"


def _grantee(consent: Consent) -> str:
    if consent.grantee_org_id is not None:
        return consent.grantee_org.name
    return ORG_TYPE_PLURALS.get(consent.grantee_org_type, "every organisation")


def consent_expiring(consent: Consent, *, now: datetime) -> Notification:
    """A consent ends within the reminder window."""
    return notify(
        consent.patient_id,
        type=CONSENT_EXPIRING,
        title=f"Your consent for {_grantee(consent)} ends soon",
        body=f"It ends on {day(consent.valid_until)}. Renew it if you want it to continue.",
        data={"consent_id": consent.id},
        now=now,
    )


def consent_expired(consent: Consent, *, now: datetime) -> Notification:
    """A consent has reached its end."""
    return notify(
        consent.patient_id,
        type=CONSENT_EXPIRED,
        title=f"Your consent for {_grantee(consent)} has ended",
        body="It no longer allows any use of your data.",
        data={"consent_id": consent.id, "receipt_id": receipt_id(consent.id, consent.version)},
        now=now,
    )


def consents_revoked(
    patient_id: uuid.UUID, consents: list[Consent], *, now: datetime
) -> Notification:
    """Confirmation of a revocation (one notice, however many consents it changed)."""
    grantees = join_words(sorted({_grantee(c) for c in consents}))
    return notify(
        patient_id,
        type=CONSENT_REVOKED,
        title=f"Consent withdrawn: {grantees}",
        body="From now on every check for this consent is refused.",
        # `consent_id` (the contract's key) names the first; `consent_ids` every one changed;
        # `receipt_id` and `receipt_ids` the receipts of the versions this change made.
        data={
            "consent_id": consents[0].id,
            "consent_ids": ",".join(str(c.id) for c in consents),
            "receipt_id": receipt_id(consents[0].id, consents[0].version),
            "receipt_ids": ",".join(str(receipt_id(c.id, c.version)) for c in consents),
        },
        now=now,
    )
