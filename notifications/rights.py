"""The notifications' part in export and erasure: the inbox, devices and preferences."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select

from notifications import devices, preferences
from notifications.models import Device, Notification, NotificationPreferences, OutboxMessage
from notifications.schemas import DeviceOut, NotificationOut, PreferencesOut
from server.db import db
from server.http import dump


def export_for(patient: Any, *, now: datetime) -> dict[str, Any]:
    """Every notice in the inbox (oldest first), the devices and the preferences."""
    notices = db.session.scalars(
        select(Notification)
        .where(Notification.patient_id == patient.id)
        .order_by(Notification.created_at, Notification.id)
    ).all()
    return {
        "notifications": dump(NotificationOut(many=True), notices, now=now),
        "devices": dump(DeviceOut(many=True), devices.active(patient.id), now=now),
        "notification_preferences": dump(
            PreferencesOut(), preferences.stored_or_default(patient.id), now=now
        ),
    }


def forget(patient_id: uuid.UUID) -> None:
    """Delete the patient's notices, devices, preferences and every push still queued for
    them or for their devices (a phone may have moved to another account since)."""
    device_ids = select(Device.id).where(Device.patient_id == patient_id).scalar_subquery()
    notice_ids = select(Notification.id).where(Notification.patient_id == patient_id)
    db.session.execute(
        delete(OutboxMessage)
        .where(
            or_(
                OutboxMessage.device_id.in_(device_ids),
                OutboxMessage.notification_id.in_(notice_ids.scalar_subquery()),
            )
        )
        .execution_options(synchronize_session=False)
    )
    for model in (Device, Notification, NotificationPreferences):
        db.session.execute(
            delete(model)
            .where(model.patient_id == patient_id)
            .execution_options(synchronize_session=False)
        )
