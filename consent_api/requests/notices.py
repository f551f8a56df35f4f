"""What the patient is told about consent requests: one arrived, one is about to lapse.

Each writes one inbox notice (and its pushes) in the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from consent_api.wording import day
from notifications.models import Notification
from notifications.outbox import Addressee, notify, notify_many

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


def invited(
    request_ids: Sequence[tuple[uuid.UUID, uuid.UUID]],
    *,
    org_id: uuid.UUID,
    org_name: str,
    study_id: uuid.UUID,
    study_title: str,
    summary: str,
    expires_at: datetime,
    now: datetime,
) -> None:
    """A study's sponsor invites each patient (`(patient_id, request_id)` pairs) to take part:
    the same notice for all, each opening the patient's own request."""
    notify_many(
        [
            Addressee(
                patient_id, {"request_id": request_id, "org_id": org_id, "study_id": study_id}
            )
            for patient_id, request_id in request_ids
        ],
        type=REQUEST_RECEIVED,
        title=f"{org_name} invites you to a study",
        body=f"{study_title}: {summary} Answer by {day(expires_at)}, or let it pass.",
        now=now,
    )
