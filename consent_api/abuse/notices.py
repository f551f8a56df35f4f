"""What a patient is told of an incident that concerns them: once per incident, however
many of the organisation's uses or attempts it counts (an alert, pushed at once)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select

from consent_api.patients.models import Patient
from notifications.outbox import Addressee, notify_many
from server.db import core

UNUSUAL_ACCESS = "unusual_access"

# Each rule, as the patient (and the suspension's reason) says it.
RULE_WORDS = {
    "burst": "many uses of one patient's data in a short time",
    "volume": "far more uses of patients' data than usual",
    "refusals": "many attempts that patients' consents refused",
    "emergency": "far more emergency access than usual",
    "breadth": "reading many patients it had never seen before",
}


def living(patient_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    """The patients not erased (an erased patient has no inbox to tell)."""
    if not patient_ids:
        return []
    table = Patient.__table__
    found: list[uuid.UUID] = []
    for start in range(0, len(patient_ids), 1000):
        batch = patient_ids[start : start + 1000]
        found += (
            core()
            .execute(select(table.c.id).where(table.c.id.in_(batch), table.c.erased_at.is_(None)))
            .scalars()
        )
    return sorted(found)


def unusual_access(
    patient_ids: list[uuid.UUID], incident: Any, org_name: str, *, now: datetime
) -> None:
    notify_many(
        [
            Addressee(
                p, {"incident_id": incident.id, "org_id": incident.org_id, "rule": incident.rule}
            )
            for p in patient_ids
        ],
        type=UNUSUAL_ACCESS,
        title=f"Unusual activity by {org_name}",
        body=(
            f"We noticed {RULE_WORDS[incident.rule]} by {org_name}, and your data is among it. "
            "We are looking into it. You can see every use in your access history, and stop "
            "this organisation from your consents at any time."
        ),
        now=now,
    )
