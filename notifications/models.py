"""The patient's inbox, their devices, and the outbox that carries notices to the devices."""

from __future__ import annotations

import uuid
from datetime import datetime, time
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db import db, utcnow, uuid_pk

OUTBOX_STATUSES = ("pending", "sending", "sent", "dropped", "dead")
DATA_USE_DELIVERY = ("immediate", "daily_digest")


class Notification(db.Model):
    """One notice in a patient's inbox: the source of truth, phone or no phone."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_patient_created", "patient_id", "created_at"),
        Index("ix_notifications_patient_read", "patient_id", "read_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    type: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    high_priority: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]


class Device(db.Model):
    """A phone or browser registered for push; deactivated when FCM says it is gone."""

    __tablename__ = "devices"
    __table_args__ = (CheckConstraint("platform IN ('android', 'ios', 'web')", name="platform"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    token: Mapped[str] = mapped_column(String(4096), unique=True)
    platform: Mapped[str] = mapped_column(String(10))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    deactivated_at: Mapped[datetime | None]


class OutboxMessage(db.Model):
    """One notice for one device, written with the event; drained by the worker."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        CheckConstraint(f"status IN {OUTBOX_STATUSES!r}", name="status_known"),
        Index("ix_outbox_messages_due", "status", "next_attempt_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    notification_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("notifications.id"), index=True)
    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("devices.id"), index=True)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_owner: Mapped[uuid.UUID | None]
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class NotificationPreferences(db.Model):
    """How a patient wants routine notices: now or in a daily digest, and when not at all.

    Alerts (refused attempts, emergency access) ignore all of it. Times are local to
    `time_zone`; `next_digest_at` is kept in UTC so the digest job finds who is due by index.
    """

    __tablename__ = "notification_preferences"
    __table_args__ = (
        CheckConstraint(f"data_uses IN {DATA_USE_DELIVERY!r}", name="data_uses_known"),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), primary_key=True)
    data_uses: Mapped[str] = mapped_column(String(20), default="immediate")
    digest_time: Mapped[time]
    quiet_start: Mapped[time | None]
    quiet_end: Mapped[time | None]
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    next_digest_at: Mapped[datetime | None] = mapped_column(index=True)
    last_digest_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
