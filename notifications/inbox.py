"""The patient's inbox: list notices newest first, count the unread, mark them read."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import func, select, update

from notifications.models import Notification
from server import pagination
from server.db import db
from server.errors import NotFound


def unread_count(patient_id: uuid.UUID) -> int:
    """How many notices the patient has not read."""
    return db.session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.patient_id == patient_id, Notification.read_at.is_(None))
    )


class InboxPage(NamedTuple):
    """A page of notices, the next page's cursor, and how many notices are unread in all."""

    items: list[Notification]
    next_cursor: str | None
    unread_count: int


def page(patient_id: uuid.UUID, query: dict[str, Any]) -> InboxPage:
    """One page of notices, newest first, optionally only the unread."""
    statement = select(Notification).where(Notification.patient_id == patient_id)
    if query.get("unread"):
        statement = statement.where(Notification.read_at.is_(None))
    rows = db.session.scalars(
        pagination.page(
            statement,
            order_column=Notification.created_at,
            id_column=Notification.id,
            cursor=query.get("cursor"),
            limit=query["limit"],
            descending=True,
        )
    ).all()
    items, next_cursor = pagination.envelope(rows, limit=query["limit"], order_attr="created_at")
    return InboxPage(items, next_cursor, unread_count(patient_id))


def mark_read(patient_id: uuid.UUID, notification_id: uuid.UUID, *, now: datetime) -> Notification:
    """Mark one of the patient's notices read (again is fine: the first time stays)."""
    notice = db.session.get(Notification, notification_id)
    if notice is None or notice.patient_id != patient_id:
        raise NotFound("No such notification.")
    if notice.read_at is None:
        notice.read_at = now
        db.session.flush()
    return notice


def mark_all_read(patient_id: uuid.UUID, *, now: datetime) -> int:
    """Mark every unread notice read; returns how many changed."""
    return db.session.execute(
        update(Notification)
        .where(Notification.patient_id == patient_id, Notification.read_at.is_(None))
        .values(read_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
