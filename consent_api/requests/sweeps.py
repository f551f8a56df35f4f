"""Periodic work on consent requests (run by the worker's jobs): lapse those past their
deadline, and remind patients of those about to lapse."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from consent_api.audit import log as audit
from consent_api.events import journal, kinds
from consent_api.patients.models import Patient
from consent_api.requests import auditing, notices
from consent_api.requests.models import ConsentRequest
from server.db import db


def expire_due(*, now: datetime, batch: int = 500) -> int:
    """Mark pending requests past their deadline as expired (the sweep job)."""
    due = db.session.scalars(
        select(ConsentRequest)
        .where(ConsentRequest.status == "pending", ConsentRequest.expires_at <= now)
        .limit(batch)
        .with_for_update(skip_locked=True)
    ).all()
    for request in due:
        lapse(request, now=now)
    db.session.flush()
    return len(due)


def lapse(request: ConsentRequest, *, now: datetime) -> None:
    """Mark one pending request past its deadline expired, and tell its organisation (a
    study's sponsor learns of lapsed invitations only as a count)."""
    request.status, request.updated_at = "expired", now
    auditing.audited(request, auditing.LAPSED, audit.SYSTEM, now=now)
    if request.study_id is not None:
        return
    journal.record(
        kinds.REQUEST_LAPSED,
        now=now,
        org_ids=[request.org_id],
        patient_id=request.patient_id,
        data={"request_id": str(request.id)},
    )


def remind_expiring(*, now: datetime, ahead: timedelta, batch: int = 500) -> int:
    """Remind patients once of a pending request that lapses within `ahead` (only requests
    that were open longer than that: a short-lived one was just announced). Invitations to
    studies are never chased: a patient may ignore them."""
    due = db.session.scalars(
        select(ConsentRequest)
        .join(Patient, Patient.id == ConsentRequest.patient_id)  # a patient who can answer
        .where(
            Patient.erased_at.is_(None),
            ConsentRequest.status == "pending",
            ConsentRequest.reminded_at.is_(None),
            ConsentRequest.study_id.is_(None),
            ConsentRequest.expires_at > now,
            ConsentRequest.expires_at <= now + ahead,
        )
        .order_by(ConsentRequest.expires_at)
        .limit(batch)
        .with_for_update(skip_locked=True, of=ConsentRequest)
        .options(selectinload(ConsentRequest.org))  # the names the notices give
    ).all()
    for request in due:
        request.reminded_at = now
        if request.created_at <= request.expires_at - ahead:
            notices.request_expiring(request, request.org.name, now=now)
    db.session.flush()
    return len(due)
