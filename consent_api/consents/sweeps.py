"""Periodic work on consents (run by the worker's jobs): expire those past their end, and
remind patients of those about to end."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from consent_api.consents import notices
from consent_api.consents.models import Consent
from consent_api.consents.service import bump
from server.db import db


def expire_due(*, now: datetime, batch: int = 500) -> int:
    """Mark active or paused consents past their validity as expired, recording the version
    and telling the patient."""
    due = db.session.scalars(
        select(Consent)
        .where(Consent.status.in_(("active", "paused")), Consent.valid_until <= now)
        .order_by(Consent.valid_until)
        .limit(batch)
        .with_for_update(skip_locked=True)
        .options(selectinload(Consent.grantee_org))  # the names the notices give
    ).all()
    for consent in due:
        consent.status = "expired"
        bump(consent, "expired", now=now)
        notices.consent_expired(consent, now=now)
    return len(due)


def remind_expiring(*, now: datetime, ahead: timedelta, batch: int = 500) -> int:
    """Tell patients, once per end date, that an active consent ends within `ahead`."""
    due = db.session.scalars(
        select(Consent)
        .where(
            Consent.status == "active",
            Consent.valid_until > now,
            Consent.valid_until <= now + ahead,
            or_(
                Consent.expiry_reminded_for.is_(None),
                Consent.expiry_reminded_for != Consent.valid_until,
            ),
        )
        .order_by(Consent.valid_until)
        .limit(batch)
        .with_for_update(skip_locked=True)
        .options(selectinload(Consent.grantee_org))  # the names the notices give
    ).all()
    for consent in due:
        consent.expiry_reminded_for = consent.valid_until
        notices.consent_expiring(consent, now=now)
    db.session.flush()
    return len(due)
