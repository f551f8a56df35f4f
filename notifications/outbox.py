"""Write a notice and its outbox rows in the caller's transaction (flush only, never commit).

The inbox row is always written. Pushes follow the patient's preferences: alerts (high
priority) go at once; other notices wait out the quiet hours; a digestible one (a routine
data use) is not pushed at all when the patient takes a daily digest.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select

from notifications.models import Device, Notification, NotificationPreferences, OutboxMessage
from notifications.preferences import Preferences, push_due
from server.db import core

TITLE_MAX = Notification.__table__.c.title.type.length
TARGET_COLUMNS = (
    Device.id,
    NotificationPreferences.data_uses,
    NotificationPreferences.digest_time,
    NotificationPreferences.quiet_start,
    NotificationPreferences.quiet_end,
    NotificationPreferences.time_zone,
)
DEVICES_AND_PREFERENCES = (
    select(*TARGET_COLUMNS)
    .outerjoin(NotificationPreferences, NotificationPreferences.patient_id == Device.patient_id)
    .where(Device.patient_id == bindparam("patient_id"), Device.active.is_(True))
)


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
    targets: list[Any] | None = None,
) -> Notification:
    """Put a notice in the patient's inbox and queue one push per active device.

    Three statements at most (devices with preferences, the notice, its pushes), written with
    Core inserts: this runs inside every data use, which reads the `targets` (rows shaped
    like `DEVICES_AND_PREFERENCES`) with its own first query and passes them in.
    """
    if len(title) > TITLE_MAX:  # an organisation's name alone may take 200 characters
        title = title[: TITLE_MAX - 1] + "…"
    notification = Notification(
        id=uuid.uuid4(),
        patient_id=patient_id,
        type=type,
        title=title,
        body=body,
        data={key: str(value) for key, value in (data or {}).items()},  # FCM data is text
        high_priority=high_priority,
        created_at=now,
        read_at=None,
    )
    if targets is None:
        targets = core().execute(DEVICES_AND_PREFERENCES, {"patient_id": patient_id}).all()
    core().execute(
        insert(Notification.__table__),
        [{column: getattr(notification, column) for column in _NOTICE_COLUMNS}],
    )
    if not targets:
        return notification
    stored = targets[0][1:]
    prefs = Preferences(*stored) if stored[0] is not None else Preferences()
    due = now if high_priority else push_due(now, prefs, routine_use=digestible)
    if due is None:
        return notification
    core().execute(
        insert(OutboxMessage.__table__),
        [
            {
                "id": uuid.uuid4(),
                "notification_id": notification.id,
                "device_id": device_id,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": due,
                "created_at": now,
            }
            for device_id, *_ in targets
        ],
    )
    return notification


_NOTICE_COLUMNS = [column.key for column in Notification.__table__.columns]
