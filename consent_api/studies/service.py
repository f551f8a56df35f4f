"""Registering and reviewing studies. Services flush, never commit."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select

from consent_api.orgs.models import Organisation
from consent_api.research.studies import Study
from consent_api.studies import counts
from server import pagination
from server.db import db
from server.errors import Conflict, NotFound, ValidationFailed


class StudyEnded(Conflict):
    """The study has ended: nobody can be invited to it any more."""

    code = "study_ended"


class StudyReviewed(Conflict):
    """The study was reviewed already: a decision is not taken twice."""

    code = "study_already_reviewed"


def register(org: Organisation, body: dict[str, Any], *, now: datetime) -> Study:
    """Submit a study for the operator's review; it may not have ended already."""
    if body["ends_on"] <= now.date():
        raise ValidationFailed(errors={"ends_on": ["The study has ended already."]})
    study = Study(
        id=uuid.uuid4(),
        org_id=org.id,
        status="submitted",
        created_at=now,
        updated_at=now,
        **body,
    )
    db.session.add(study)
    db.session.flush()
    return shown(study, now=now)


def shown(study: Study, *, now: datetime) -> Study:
    """The study with its invitation counts, as its sponsor and the operator see it."""
    return counts.with_counts([study], now=now)[0]


def _page(statement, query: dict[str, Any], *, now: datetime) -> pagination.Page:
    if "status" in query:
        statement = statement.where(Study.status == query["status"])
    page = pagination.fetch(
        statement, order_column=Study.created_at, id_column=Study.id, query=query, descending=True
    )
    counts.with_counts(page.items, now=now)
    return page


def list_for_org(org_id: uuid.UUID, query: dict[str, Any], *, now: datetime) -> pagination.Page:
    """The organisation's own studies, newest first."""
    return _page(select(Study).where(Study.org_id == org_id), query, now=now)


def list_all(query: dict[str, Any], *, now: datetime) -> pagination.Page:
    """Every study (the operator's review queue is `status=submitted`), newest first."""
    return _page(select(Study), query, now=now)


def get_for_org(org_id: uuid.UUID, study_id: uuid.UUID, *, now: datetime) -> Study:
    """One of the organisation's studies; another's is as unknown as a missing one."""
    study = db.session.get(Study, study_id)
    if study is None or study.org_id != org_id:
        raise NotFound("No study with this id.")
    return shown(study, now=now)


def review(study_id: uuid.UUID, *, approve: bool, reason: str | None, now: datetime) -> Study:
    """Approve or reject a submitted study (a rejection says why)."""
    study = db.session.scalar(select(Study).where(Study.id == study_id).with_for_update())
    if study is None:
        raise NotFound("No study with this id.")
    if study.status != "submitted":
        raise StudyReviewed(f"This study was {study.status} already.")
    if not approve and not reason:
        raise ValidationFailed(errors={"reason": ["Say why the study is rejected."]})
    if approve and study.ends_on <= now.date():
        raise StudyEnded("This study has ended; reject it instead.")
    study.status = "approved" if approve else "rejected"
    study.review_reason, study.reviewed_at, study.updated_at = reason, now, now
    db.session.flush()
    return shown(study, now=now)
