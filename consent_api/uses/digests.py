"""The daily digest (run by the worker's jobs): one notice summing up the routine uses a
patient chose not to be pushed one by one (each is in the inbox already)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from consent_api.orgs.models import Organisation
from consent_api.uses import notices
from consent_api.uses.models import DataUse
from notifications import preferences
from server.db import db


def send_due(*, now: datetime, batch: int = 500) -> int:
    """Send every digest that is due; returns how many patients were handled."""
    due = preferences.due_digests(now=now, batch=batch)
    for prefs in due:
        since = preferences.digest_since(prefs)
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
        preferences.digest_sent(prefs, now=now)
    db.session.flush()
    return len(due)
