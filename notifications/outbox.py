"""Write a notice and its outbox rows in the caller's transaction (flush only, never commit).

The inbox row is always written. Pushes follow the patient's preferences: alerts (high
priority) go at once; other notices wait out the quiet hours; a digestible one (a routine
data use) is not pushed at all when the patient takes a daily digest.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Row, bindparam, insert, select, update

from notifications.models import Device, Notification, NotificationPreferences, OutboxMessage
from notifications.preferences import Preferences, push_due
from server.db import core

TITLE_MAX = Notification.__table__.c.title.type.length


class Audience(NamedTuple):
    """Where and when a patient's pushes go: their active devices, and their preferences."""

    device_ids: tuple[uuid.UUID, ...]
    preferences: Preferences


# Columns that read a patient's audience alongside another query of theirs (one row per
# active device, or one row with no device); `audience_of` reads the rows back by name.
AUDIENCE_COLUMNS = (
    Device.id.label("device_id"),
    NotificationPreferences.data_uses.label("prefers_data_uses"),
    NotificationPreferences.digest_time.label("prefers_digest_time"),
    NotificationPreferences.quiet_start.label("prefers_quiet_start"),
    NotificationPreferences.quiet_end.label("prefers_quiet_end"),
    NotificationPreferences.time_zone.label("prefers_time_zone"),
)
_AUDIENCE = (
    select(*AUDIENCE_COLUMNS)
    .outerjoin(NotificationPreferences, NotificationPreferences.patient_id == Device.patient_id)
    .where(Device.patient_id == bindparam("patient_id"), Device.active.is_(True))
)


def audience_of(rows: Sequence[Row]) -> Audience:
    """The audience in rows that carry AUDIENCE_COLUMNS (no preferences row: the defaults)."""
    devices = tuple(row.device_id for row in rows if row.device_id is not None)
    first = rows[0] if rows else None
    if first is None or first.prefers_data_uses is None:
        return Audience(devices, Preferences())
    return Audience(
        devices,
        Preferences(
            first.prefers_data_uses,
            first.prefers_digest_time,
            first.prefers_quiet_start,
            first.prefers_quiet_end,
            first.prefers_time_zone,
        ),
    )


def audience(patient_id: uuid.UUID) -> Audience:
    """Read a patient's audience (one query)."""
    return audience_of(core().execute(_AUDIENCE, {"patient_id": patient_id}).all())


_AUDIENCES = (
    select(Device.patient_id, *AUDIENCE_COLUMNS)
    .outerjoin(NotificationPreferences, NotificationPreferences.patient_id == Device.patient_id)
    .where(Device.patient_id.in_(bindparam("patient_ids", expanding=True)), Device.active.is_(True))
)


def audiences(patient_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Audience]:
    """Read many patients' audiences (one query); a patient with no active device has none
    (and gets no push, whatever their preferences)."""
    rows: dict[uuid.UUID, list[Row]] = {}
    for row in core().execute(_AUDIENCES, {"patient_ids": list(patient_ids)}):
        rows.setdefault(row.patient_id, []).append(row)
    return {patient_id: audience_of(found) for patient_id, found in rows.items()}


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
    to: Audience | None = None,
    notice_id: uuid.UUID | None = None,
) -> Notification:
    """Put a notice in the patient's inbox and queue one push per active device.

    Three statements at most (the audience, the notice, its pushes), written with Core
    inserts: this runs inside every data use, which reads the audience (`to`) with its own
    first query and passes it in.
    """
    notification = _notice(patient_id, type, title, body, now, data, high_priority, notice_id)
    if to is None:
        to = audience(patient_id)
    core().execute(insert(Notification.__table__), [_columns(notification)])
    pushes = _pushes(notification, to, now=now, digestible=digestible)
    if pushes:
        core().execute(insert(OutboxMessage.__table__), pushes)
    return notification


class Addressee(NamedTuple):
    """One patient of many told the same thing, with the data their notice carries."""

    patient_id: uuid.UUID
    data: dict[str, Any]


def notify_many(
    addressees: Sequence[Addressee], *, type: str, title: str, body: str, now: datetime
) -> None:
    """Tell many patients the same thing, each in their own inbox and pushed to their
    devices as `notify` would (not alerts, not digestible): three statements in all, however
    many patients (a study's invitations are filed by the thousand)."""
    if not addressees:
        return
    found = audiences([addressee.patient_id for addressee in addressees])
    notices, pushes = [], []
    for addressee in addressees:
        notification = _notice(addressee.patient_id, type, title, body, now, addressee.data)
        notices.append(_columns(notification))
        to = found.get(addressee.patient_id)
        if to is not None:
            pushes += _pushes(notification, to, now=now, digestible=False)
    core().execute(insert(Notification.__table__), notices)
    if pushes:
        core().execute(insert(OutboxMessage.__table__), pushes)


def _notice(
    patient_id: uuid.UUID,
    type: str,
    title: str,
    body: str,
    now: datetime,
    data: dict[str, Any] | None,
    high_priority: bool = False,
    notice_id: uuid.UUID | None = None,
) -> Notification:
    if len(title) > TITLE_MAX:  # an organisation's name alone may take 200 characters
        title = title[: TITLE_MAX - 1] + "…"
    return Notification(
        id=notice_id or uuid.uuid4(),
        patient_id=patient_id,
        type=type,
        title=title,
        body=body,
        data={key: str(value) for key, value in (data or {}).items()},  # FCM data is text
        high_priority=high_priority,
        created_at=now,
        read_at=None,
    )


def _columns(notification: Notification) -> dict[str, Any]:
    return {column: getattr(notification, column) for column in _NOTICE_COLUMNS}


def _pushes(
    notification: Notification, to: Audience, *, now: datetime, digestible: bool
) -> list[dict[str, Any]]:
    """One outbox row per active device, due when the patient's preferences say."""
    if not to.device_ids:
        return []
    if notification.high_priority:
        due = now
    else:
        due = push_due(now, to.preferences, routine_use=digestible)
    if due is None:
        return []
    return [
        {
            "id": uuid.uuid4(),
            "notification_id": notification.id,
            "device_id": device_id,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": due,
            "created_at": now,
        }
        for device_id in to.device_ids
    ]


_NOTICE_COLUMNS = [column.key for column in Notification.__table__.columns]


def restate(notice_id: uuid.UUID, *, title: str, body: str) -> None:
    """Rewrite a notice in place and show it as unread again, without a new push (an alert
    that now counts more events)."""
    if len(title) > TITLE_MAX:
        title = title[: TITLE_MAX - 1] + "…"
    core().execute(
        update(Notification.__table__)
        .where(Notification.__table__.c.id == notice_id)
        .values(title=title, body=body, read_at=None)
    )
