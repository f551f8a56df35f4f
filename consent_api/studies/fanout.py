"""The fan-out: invite to each open study the patients whose research preferences accept it,
at a bounded rate, each within their monthly cap.

A study is open from its first day to the day before its last, once the operator approved it,
while its sponsor is active and until its approvals reach the recruitment target; it keeps at
most `per_place` invitations open for each place still to fill. A patient is
invited when they are opted in, accept the study's purpose and every data category it asks
for from its sponsor's kind of organisation, were never invited to it, and had fewer than
their `max_invitations_per_month` invitations in the last 30 days (a rolling month: never
more than the cap in any 30 days, across month ends). Preferences are read when the
invitations are filed, so an opt-out (or an erasure, which deletes them) stops the next batch.

One fan-out at a time (server.db.only_runner): the caps hold across studies without locking
patients' rows, and a patient is never invited twice to one study (a unique index holds that
too). Flush only: the worker's job commits.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from consent_api.orgs.models import Organisation
from consent_api.requests import invitations
from consent_api.requests.models import ConsentRequest
from consent_api.research import codes
from consent_api.research.models import ResearchPreference
from consent_api.research.preferences import accepts
from consent_api.research.studies import Study
from server.db import db, only_runner

LOCK_KEY = 0x696E76697465  # any constant of our own: "invite" in ASCII
MONTH = timedelta(days=30)


def _counted(study_id, *conditions):
    return (
        select(func.count())
        .where(ConsentRequest.study_id == study_id, *conditions)
        .scalar_subquery()
    )


def open_studies(*, now: datetime, per_place: int) -> list[tuple[Study, Organisation, int]]:
    """The studies inviting now, with their sponsors and how many more each may invite
    now: `per_place` open invitations for each place still to fill (uptake is low, but a
    study asks no more people than it may need), the first approved first."""
    today = now.date()
    approved = _counted(Study.id, ConsentRequest.status == "approved")
    open_ = _counted(Study.id, ConsentRequest.status == "pending", ConsentRequest.expires_at > now)
    room = per_place * (Study.recruitment_target - approved) - open_
    rows = db.session.execute(
        select(Study, Organisation, room)
        .join(Organisation, Organisation.id == Study.org_id)
        .where(
            Study.status == "approved",
            Study.starts_on <= today,
            Study.ends_on > today,
            Organisation.status == "active",
            Organisation.type.in_(codes.ORG_TYPES),  # the kinds a patient may accept
        )
        .order_by(Study.reviewed_at, Study.id)
    ).all()
    return [(study, sponsor, left) for study, sponsor, left in rows if left > 0]


def candidates(
    study: Study, org_type: str, *, now: datetime, after: uuid.UUID | None, limit: int
) -> list[uuid.UUID]:
    """The next patients (in id order, after `after`) to invite to the study."""
    rp = ResearchPreference
    here, lately = aliased(ConsentRequest), aliased(ConsentRequest)
    invited_here = (
        select(here.id).where(here.patient_id == rp.patient_id, here.study_id == study.id).exists()
    )
    invited_lately = (
        select(func.count())
        .where(
            lately.patient_id == rp.patient_id,
            lately.study_id.is_not(None),
            lately.created_at > now - MONTH,
        )
        .scalar_subquery()
    )
    statement = (
        select(rp.patient_id)
        .where(
            *accepts(
                data_categories=study.data_categories,
                purposes=[study.purpose],
                org_type=org_type,
            ),
            ~invited_here,
            invited_lately < rp.max_invitations_per_month,
        )
        .order_by(rp.patient_id)
        .limit(limit)
    )
    if after is not None:
        statement = statement.where(rp.patient_id > after)
    return list(db.session.scalars(statement))


def _invitation(study: Study, sponsor: Organisation, *, now: datetime, days: int):
    ends = datetime.combine(study.ends_on, time(), tzinfo=UTC)  # the study's last day begins
    return invitations.Invitation(
        org_id=sponsor.id,
        org_name=sponsor.name,
        study_id=study.id,
        study_title=study.title,
        data_categories=list(study.data_categories),
        purposes=[study.purpose],
        actions=list(study.actions),
        valid_until=ends,
        justification=study.description,
        fee_per_use=study.fee_per_use,
        expires_at=min(now + timedelta(days=days), ends),
    )


def invite(*, now: datetime, limit: int, days: int, per_place: int, batch: int = 500) -> int:
    """File up to `limit` invitations across the open studies, in batches; each lapses
    after `days` (or when its study ends, if sooner). Returns how many were filed."""
    if not only_runner(LOCK_KEY):
        return 0
    filed = 0
    for study, sponsor, room in open_studies(now=now, per_place=per_place):
        invitation = _invitation(study, sponsor, now=now, days=days)
        after, left = None, min(room, limit - filed)
        while left > 0:
            patient_ids = candidates(
                study, sponsor.type, now=now, after=after, limit=min(batch, left)
            )
            if not patient_ids:
                break
            sent = invitations.file(invitation, patient_ids, now=now)
            filed, left, after = filed + sent, left - sent, patient_ids[-1]
        if filed >= limit:
            break
    return filed
