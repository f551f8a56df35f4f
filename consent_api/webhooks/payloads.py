"""An event's body as one organisation is told it: patients by the organisation's own
`patient_ref`, consents by the ids it knows them by and as they stood at the change."""

from __future__ import annotations

import uuid
from typing import Any

from consent_api.consents.schemas import OrgConsentOut
from consent_api.consents.states import read_state
from consent_api.events.models import JournalEntry
from consent_api.links import refs
from consent_api.orgs.models import Organisation
from server.http import dump

_CONSENT = OrgConsentOut()


def payload(entry: JournalEntry, org: Organisation, *, seq: int, event_id: uuid.UUID) -> dict:
    """The event as `org` reads it, in its feed and in a webhook's body (Standard Webhooks'
    `type`, `timestamp` and `data`, with our `id` and `sequence`)."""
    return {
        "id": str(event_id),
        "type": entry.type,
        "sequence": seq,
        "timestamp": entry.occurred_at.isoformat(),
        "data": _data(entry, org),
    }


def _data(entry: JournalEntry, org: Organisation) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if entry.patient_id is not None:
        data["patient_ref"] = refs.encode(org.id, entry.patient_id)
    for key, value in entry.data.items():
        if key == "consent":
            state = read_state(value).for_grantee(org)
            data["consent"] = dump(_CONSENT, state, now=entry.occurred_at, viewer=org.id)
        else:
            data[key] = value
    return data
