"""What a study's sponsor learns of its invitations: how many were invited, saw theirs,
approved, denied, and let it lapse, each suppressed below the threshold and rounded to the
nearest five (research/disclosure), and never who."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import and_, case, func, or_, select

from consent_api.requests.models import ConsentRequest
from consent_api.research.disclosure import Released, release_exact
from consent_api.research.studies import Study
from server.db import db


@dataclass(frozen=True)
class InvitationCounts:
    """A study's invitations, as its sponsor sees them."""

    invited: Released
    seen: Released
    approved: Released
    denied: Released
    lapsed: Released


def _number(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def counted(study_ids: Sequence[uuid.UUID], *, now: datetime) -> dict[uuid.UUID, InvitationCounts]:
    """Each study's invitation counts (one grouped query over the studies' invitations)."""
    cr = ConsentRequest
    lapsed = or_(cr.status == "expired", and_(cr.status == "pending", cr.expires_at <= now))
    rows = {
        row.study_id: row
        for row in db.session.execute(
            select(
                cr.study_id,
                func.count().label("invited"),
                func.count(cr.seen_at).label("seen"),
                _number(cr.status == "approved").label("approved"),
                _number(cr.status == "denied").label("denied"),
                _number(lapsed).label("lapsed"),
            )
            .where(cr.study_id.in_(list(study_ids)))
            .group_by(cr.study_id)
        )
    }
    return {study_id: _shown(rows.get(study_id)) for study_id in study_ids}


def _shown(row) -> InvitationCounts:
    """A study's counts as its sponsor sees them (all nought when none was invited)."""
    return InvitationCounts(
        *(
            release_exact(0 if row is None else int(getattr(row, field.name)))
            for field in fields(InvitationCounts)
        )
    )


def with_counts(studies: Sequence[Study], *, now: datetime) -> Sequence[Study]:
    """The studies, each carrying its invitation counts (`invitations`) to be shown."""
    found = counted([study.id for study in studies], now=now)
    for study in studies:
        study.invitations = found[study.id]
    return studies
