"""Invitations: one consent request, the same for every patient, filed with many patients at
once (a study's fan-out, consent_api/studies/fanout.py). Core inserts in the caller's
transaction, flush only: a batch of patients costs a few statements, however many there are
(requests, their audit entries and keys, notices, pushes).

An invitation is an ordinary request to its patient (approved, narrowed, denied or left to
lapse as any other) that names its study; its organisation never sees it, only its study's
counts, and is told of it only when the patient approves (through the consent it then holds).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert

from consent_api.consents.summary import summarise
from consent_api.requests import auditing, notices
from consent_api.requests.models import ConsentRequest
from server.db import core


@dataclass(frozen=True)
class Invitation:
    """What every patient invited to one study is asked."""

    org_id: uuid.UUID
    org_name: str
    study_id: uuid.UUID
    study_title: str
    data_categories: list[str]
    purposes: list[str]
    actions: list[str]
    valid_until: datetime
    justification: str
    fee_per_use: int
    expires_at: datetime

    def summary(self) -> str:
        """The request's plain-language summary (the same for every patient)."""
        scope = {
            "data_categories": self.data_categories,
            "purposes": self.purposes,
            "actions": self.actions,
            "valid_until": self.valid_until,
        }
        return summarise(scope, grantee=self.org_name, org_names={})


def file(invitation: Invitation, patient_ids: Sequence[uuid.UUID], *, now: datetime) -> int:
    """File the invitation with each patient (none invited to this study before: the unique
    index on patient and study refuses a second) and tell each of them."""
    if not patient_ids:
        return 0
    summary = invitation.summary()
    filed = [(patient_id, uuid.uuid4()) for patient_id in patient_ids]
    rows = [
        {
            "id": request_id,
            "org_id": invitation.org_id,
            "patient_id": patient_id,
            "study_id": invitation.study_id,
            "data_categories": invitation.data_categories,
            "purposes": invitation.purposes,
            "actions": invitation.actions,
            "data_period_start": None,
            "data_period_end": None,
            "valid_from": None,
            "valid_until": invitation.valid_until,
            "max_uses": None,
            "exclusions": [],
            "scope_key": None,
            "justification": invitation.justification,
            "fee_per_use": invitation.fee_per_use,
            "expires_at": invitation.expires_at,
            "status": "pending",
            "summary": summary,
            "created_at": now,
            "updated_at": now,
        }
        for patient_id, request_id in filed
    ]
    core().execute(insert(ConsentRequest.__table__), rows)
    auditing.invitations_filed(rows, now=now)
    notices.invited(
        filed,
        org_id=invitation.org_id,
        org_name=invitation.org_name,
        study_id=invitation.study_id,
        study_title=invitation.study_title,
        summary=summary,
        expires_at=invitation.expires_at,
        now=now,
    )
    return len(filed)
