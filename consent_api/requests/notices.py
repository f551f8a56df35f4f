"""What the patient is told about consent requests: one arrived, one is about to lapse.

Each writes one inbox notice (and its pushes) in the caller's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from consent_api.wording import day
from notifications.models import Notification
from notifications.outbox import notify

REQUEST_RECEIVED = "consent_request_received"
REQUEST_EXPIRING = "consent_request_expiring"


def request_received(request: Any, org_name: str, *, now: datetime) -> Notification:
    """An organisation asks for consent."""
    return notify(
        request.patient_id,
        type=REQUEST_RECEIVED,
        title=f"{org_name} asks for your consent",
        body=f"{request.summary} Answer by {day(request.expires_at)}.",  # a summary ends in "."
        data={"request_id": request.id, "org_id": request.org_id},
        now=now,
    )


def request_expiring(request: Any, org_name: str, *, now: datetime) -> Notification:
    """A pending request is about to lapse unanswered."""
    return notify(
        request.patient_id,
        type=REQUEST_EXPIRING,
        title=f"{org_name}'s request for consent ends soon",
        body=f"It lapses on {day(request.expires_at)} if you do not answer.",
        data={"request_id": request.id, "org_id": request.org_id},
        now=now,
    )
