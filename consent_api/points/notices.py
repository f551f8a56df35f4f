"""What the patient is told about their points: some will expire soon."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from consent_api.wording import day
from notifications.models import Notification
from notifications.outbox import notify

POINTS_EXPIRING = "points_expiring"
REWARD_REDEEMED = "reward_redeemed"


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


def reward_redeemed(redemption: Any, reward_name: str, *, now: datetime) -> Notification:
    """A reward was redeemed: where to find it (a voucher code stays in the wallet, never in
    a push that passes through others' servers)."""
    return notify(
        redemption.patient_id,
        type=REWARD_REDEEMED,
        title=f"Your reward: {reward_name}",
        body=f"You spent {redemption.cost} health points. Open your wallet to see how to use it.",
        data={"redemption_id": str(redemption.id), "points": redemption.cost},
        now=now,
    )
