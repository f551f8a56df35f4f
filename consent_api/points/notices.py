"""What the patient is told about their points: some will expire soon."""

from __future__ import annotations

import uuid
from datetime import datetime

from consent_api.wording import day
from notifications.models import Notification
from notifications.outbox import notify

POINTS_EXPIRING = "points_expiring"


def points_expiring(
    patient_id: uuid.UUID, points: int, first_expiry: datetime, *, now: datetime
) -> Notification:
    """Points will expire soon unless spent."""
    return notify(
        patient_id,
        type=POINTS_EXPIRING,
        title=f"{points} health point{'s' if points != 1 else ''} expire soon",
        body=f"Spend them by {day(first_expiry)}; after that they are gone.",
        data={"points": points, "expires_at": first_expiry.isoformat()},
        now=now,
    )
