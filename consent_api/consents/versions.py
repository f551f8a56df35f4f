"""Every version of a consent is kept exactly as the patient saw it, never rewritten."""

from __future__ import annotations

from datetime import datetime

from consent_api.audit import log as audit
from consent_api.consents.models import Consent, ConsentVersion
from consent_api.consents.schemas import ConsentOut
from consent_api.consents.states import state_of
from consent_api.events import journal, kinds
from server.db import db
from server.http import dump

_SNAPSHOT = ConsentOut()


def record(consent: Consent, change: str, *, now: datetime) -> None:
    """Keep the consent's current version (call after a flush, so that it reads back), audit
    it, and journal the change for the organisations the consent names (by id or by type)."""
    # JSON-ready: it reads back as it was shown; without its grantee's suspension, which is
    # the organisation's state now, not the consent's (`kept`).
    snapshot = dump(_SNAPSHOT, consent, now=now, kept=True)
    db.session.add(
        ConsentVersion(
            consent_id=consent.id,
            version=consent.version,
            change=change,
            snapshot=snapshot,
            created_at=now,
        )
    )
    # The audit log keeps every version, sealed under the patient's key (consent_api/audit).
    audit.record(
        kinds.BY_CONSENT_CHANGE[change],
        actor=audit.SYSTEM if change == "expired" else audit.Actor.patient(consent.patient_id),
        subjects={"patient": consent.patient_id, "consent": consent.id, "version": consent.version},
        payload={"consent": snapshot},
        now=now,
        patient_id=consent.patient_id,
    )
    db.session.expire(consent, ["versions"])  # read again, with this one, when next shown
    journal.record(
        kinds.BY_CONSENT_CHANGE[change],
        now=now,
        org_ids=[consent.grantee_org_id] if consent.grantee_org_id else [],
        org_types=[consent.grantee_org_type] if consent.grantee_org_type else [],
        patient_id=consent.patient_id,
        consent_id=consent.id,
        consent_version=consent.version,
        data={"consent": state_of(consent, now=now)},
    )
