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

One fan-out at a time (server.db.only_runner, taken by each batch: a run stops when another
worker holds it): the caps hold across studies without locking patients' rows, and a patient
is never invited twice to one study (a unique index holds that too). A run goes batch after
batch, each committed by the worker's job, so patients are told as it goes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from consent_api.orgs.models import Organisation
from consent_api.patients.models import Patient
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
    invitation: invitations.Invitation,
    org_type: str,
    *,
    now: datetime,
    after: uuid.UUID | None,
    limit: int,
) -> list[uuid.UUID]:
    """The next patients (in id order, after `after`) to invite to the study."""
    rp = ResearchPreference
    here, lately = aliased(ConsentRequest), aliased(ConsentRequest)
    invited_here = (
        select(here.id)
        .where(here.patient_id == rp.patient_id, here.study_id == invitation.study_id)
        .exists()
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
                data_categories=invitation.data_categories,
                purposes=invitation.purposes,
                org_type=org_type,
            ),
            ~invited_here,
            invited_lately < rp.max_invitations_per_month,
            # Erasure deletes the preferences; this holds even for a row left behind. A
            # lookup per candidate (a scalar subquery the planner cannot turn into a join: it
            # misjudges the masks' selectivity, and joined it rescanned all patients per row).
            select(Patient.erased_at)
            .where(Patient.id == rp.patient_id)
            .scalar_subquery()
            .is_(None),
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


@dataclass
class _Open:
    """An open study as one run goes through it: what it asks, how many more it may ask,
    and the last patient asked."""

    invitation: invitations.Invitation
    org_type: str
    room: int
    after: uuid.UUID | None = None


@dataclass
class Run:
    """One run of the fan-out, batch after batch (each its own transaction): the open
    studies as the run found them, taken in turn."""

    now: datetime
    days: int
    per_place: int
    studies: list[_Open] | None = None

    def next_batch(self, *, limit: int) -> int:
        """File the next batch of at most `limit` invitations, to the first study with room
        and patients left; 0 when there are none (or another worker is running the
        fan-out). Flush only: the caller commits each batch."""
        if not only_runner(LOCK_KEY):
            return 0
        if self.studies is None:
            self.studies = [
                _Open(_invitation(study, sponsor, now=self.now, days=self.days), sponsor.type, room)
                for study, sponsor, room in open_studies(now=self.now, per_place=self.per_place)
            ]
        for study in self.studies:
            if study.room <= 0:
                continue
            patient_ids = candidates(
                study.invitation,
                study.org_type,
                now=self.now,
                after=study.after,
                limit=min(study.room, limit),
            )
            if not patient_ids:
                study.room = 0  # nobody left to ask in this run
                continue
            filed = invitations.file(study.invitation, patient_ids, now=self.now)
            study.room, study.after = study.room - filed, patient_ids[-1]
            return filed
        return 0
