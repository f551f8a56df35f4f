"""Notification preferences: when a routine notice may buzz the phone, and digest times.

The time arithmetic is pure (local wall-clock times in the patient's IANA time zone, answers
in UTC, daylight-saving gaps and folds resolved by zoneinfo); the rest reads and writes the
patient's row, which is optional: no row means the defaults.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import select

from notifications.models import NotificationPreferences
from server.db import db, locked_row

DEFAULT_DIGEST_TIME = time(8, 0)


class Preferences(NamedTuple):
    """A patient's preferences, or the defaults."""

    data_uses: str = "immediate"
    digest_time: time = DEFAULT_DIGEST_TIME
    quiet_start: time | None = None
    quiet_end: time | None = None
    time_zone: str = "UTC"


def _local(moment: datetime, zone: str) -> datetime:
    return moment.astimezone(ZoneInfo(zone))


def _at(day, clock: time, zone: str) -> datetime:
    return datetime.combine(day, clock, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def quiet_until(now: datetime, prefs: Preferences) -> datetime | None:
    """If `now` falls in the quiet hours, return (in UTC) when they end; else None.

    Quiet hours may cross midnight (22:00 to 07:00); equal start and end mean none.
    """
    start, end = prefs.quiet_start, prefs.quiet_end
    if start is None or end is None or start == end:
        return None
    local = _local(now, prefs.time_zone)
    clock = local.time().replace(tzinfo=None)
    # A window like 22:00 to 07:00 crosses midnight.
    quiet = (start <= clock < end) if start < end else (clock >= start or clock < end)
    if not quiet:
        return None
    day = local.date() if clock < end else local.date() + timedelta(days=1)
    return _at(day, end, prefs.time_zone)


def next_digest(after: datetime, prefs: Preferences) -> datetime:
    """Return the first digest time strictly after `after`, in UTC."""
    local = _local(after, prefs.time_zone)
    candidate = _at(local.date(), prefs.digest_time, prefs.time_zone)
    if candidate <= after:
        candidate = _at(local.date() + timedelta(days=1), prefs.digest_time, prefs.time_zone)
    return candidate


def push_due(now: datetime, prefs: Preferences, *, routine_use: bool) -> datetime | None:
    """When a non-alert notice should be pushed: now, after the quiet hours, or never (None:
    a routine use goes to the daily digest and the inbox only)."""
    if routine_use and prefs.data_uses == "daily_digest":
        return None
    return quiet_until(now, prefs) or now


def _row(patient_id: uuid.UUID) -> NotificationPreferences | None:
    return db.session.get(NotificationPreferences, patient_id)


def of(row: NotificationPreferences | None) -> Preferences:
    """The preferences a stored row says, or the defaults when there is none."""
    if row is None:
        return Preferences()
    return Preferences(
        row.data_uses, row.digest_time, row.quiet_start, row.quiet_end, row.time_zone
    )


def stored_or_default(patient_id: uuid.UUID) -> NotificationPreferences:
    """The patient's stored preferences, or (never stored) an unsaved row of the defaults."""
    row = _row(patient_id)
    if row is not None:
        return row
    defaults = Preferences()
    return NotificationPreferences(
        patient_id=patient_id,
        data_uses=defaults.data_uses,
        digest_time=defaults.digest_time,
        quiet_start=defaults.quiet_start,
        quiet_end=defaults.quiet_end,
        time_zone=defaults.time_zone,
        next_digest_at=None,
    )


def replace(
    patient_id: uuid.UUID, body: dict[str, Any], *, now: datetime
) -> NotificationPreferences:
    """Store new preferences (a full replacement; omitted fields take their defaults)."""
    quiet = body.get("quiet_hours")
    prefs = Preferences(
        data_uses=body["data_uses"],
        digest_time=body.get("digest_time") or DEFAULT_DIGEST_TIME,
        quiet_start=quiet["start"] if quiet else None,
        quiet_end=quiet["end"] if quiet else None,
        time_zone=body["time_zone"],
    )
    defaults = Preferences()
    row = locked_row(
        NotificationPreferences,
        {"patient_id": patient_id},
        created_with={
            "data_uses": defaults.data_uses,
            "digest_time": defaults.digest_time,
            "time_zone": defaults.time_zone,
            "updated_at": now,
        },
    )
    switching_to_digest = prefs.data_uses == "daily_digest" and row.data_uses != "daily_digest"
    (
        row.data_uses,
        row.digest_time,
        row.quiet_start,
        row.quiet_end,
        row.time_zone,
    ) = prefs
    if prefs.data_uses == "daily_digest":
        if switching_to_digest:
            row.last_digest_at = now  # uses until now were pushed one by one already
        row.next_digest_at = next_digest(now, prefs)
    else:
        row.next_digest_at = None
    row.updated_at = now
    db.session.flush()
    return row


def due_digests(*, now: datetime, batch: int = 500) -> list[NotificationPreferences]:
    """The preferences of patients whose daily digest is due, locked (skipping any another
    worker holds), most overdue first."""
    return list(
        db.session.scalars(
            select(NotificationPreferences)
            .where(
                NotificationPreferences.data_uses == "daily_digest",
                NotificationPreferences.next_digest_at <= now,
            )
            .order_by(NotificationPreferences.next_digest_at)
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
    )


def digest_since(row: NotificationPreferences) -> datetime:
    """Since when a due digest sums up uses: the last digest, or the switch to digests."""
    return row.last_digest_at or row.updated_at


def digest_sent(row: NotificationPreferences, *, now: datetime) -> None:
    """Record a digest as sent (or as having had nothing to say) and schedule the next."""
    row.last_digest_at = now
    row.next_digest_at = next_digest(now, of(row))
