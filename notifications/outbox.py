"""Write a notice and its outbox rows in the caller's transaction (flush only, never commit)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select

from notifications.models import Device, Notification, OutboxMessage
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
) -> Notification:
    """Put a notice in the patient's inbox and queue one push per active device."""
    notification = Notification(
        id=uuid.uuid4(),
        patient_id=patient_id,
        type=type,
        title=title,
        body=body,
        data=dict(data or {}),
        high_priority=high_priority,
        created_at=now,
    )
    db.session.add(notification)
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
                next_attempt_at=now,
                created_at=now,
            )
        )
    db.session.flush()
    return notification
