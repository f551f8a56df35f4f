"""The daily digest: one notice summing up the routine uses a patient chose not to be
pushed one by one (each is in the inbox already)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from notifications import notices, preferences
from notifications.models import NotificationPreferences
from notifications.preferences import next_digest
from server.db import db


def send_due(*, now: datetime, batch: int = 500) -> int:
    """Send every digest that is due; returns how many patients were handled."""
    from consent_api.orgs.models import Organisation
    from consent_api.uses.models import DataUse

    due = db.session.scalars(
        select(NotificationPreferences)
        .where(
            NotificationPreferences.data_uses == "daily_digest",
            NotificationPreferences.next_digest_at <= now,
        )
        .order_by(NotificationPreferences.next_digest_at)
        .limit(batch)
        .with_for_update(skip_locked=True)
    ).all()
    for prefs in due:
        since = prefs.last_digest_at or prefs.updated_at
        by_org = db.session.execute(
            select(Organisation.name, func.count())
            .join(DataUse, DataUse.org_id == Organisation.id)
            .where(
                DataUse.patient_id == prefs.patient_id,
                DataUse.outcome == "permitted",
                DataUse.emergency.is_(False),
                DataUse.created_at > since,
                DataUse.created_at <= now,
            )
            .group_by(Organisation.name)
            .order_by(func.count().desc(), Organisation.name)
        ).all()
        if by_org:
            total = sum(count for _, count in by_org)
            names = [name for name, _ in by_org]
            notices.digest(prefs.patient_id, total, names, since=since, now=now)
        prefs.last_digest_at = now
        prefs.next_digest_at = next_digest(now, preferences.of(prefs))
    db.session.flush()
    return len(due)
