"""Write a notice and its outbox rows in the caller's transaction (flush only, never commit).

The inbox row is always written. Pushes follow the patient's preferences: alerts (high
priority) go at once; other notices wait out the quiet hours; a digestible one (a routine
data use) is not pushed at all when the patient takes a daily digest.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select

from notifications.models import Device, Notification, OutboxMessage
from notifications.preferences import load, push_due
from server.db import db


def notify(
    patient_id: uuid.UUID,
    *,
    type: str,
    title: str,
    body: str,
    now: datetime,
    data: dict[str, Any] | None = None,
    high_priority: bool = False,
    digestible: bool = False,
) -> Notification:
    """Put a notice in the patient's inbox and queue one push per active device."""
    notification = Notification(
        id=uuid.uuid4(),
        patient_id=patient_id,
        type=type,
        title=title,
        body=body,
        data={key: str(value) for key, value in (data or {}).items()},  # FCM data is text
        high_priority=high_priority,
        created_at=now,
    )
    db.session.add(notification)
    due = now if high_priority else push_due(now, load(patient_id), routine_use=digestible)
    if due is None:
        db.session.flush()
        return notification
    devices = db.session.scalars(
        select(Device.id).where(Device.patient_id == patient_id, Device.active.is_(True))
    ).all()
    for device_id in devices:
        db.session.add(
            OutboxMessage(
                notification_id=notification.id,
                device_id=device_id,
                status="pending",
                attempts=0,
                next_attempt_at=due,
                created_at=now,
            )
        )
    db.session.flush()
    return notification
