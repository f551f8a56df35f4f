"""The consents package's part in export and erasure."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from consent_api.consents.models import Consent, ConsentVersion
from consent_api.consents.schemas import ConsentOut, VersionExportOut
from consent_api.consents.service import revoke_everything
from consent_api.events import journal, kinds
from consent_api.patients.models import Patient
from server.db import db
from server.http import dump


def export_for(patient: Patient, *, now: datetime) -> dict[str, Any]:
    """Every consent the patient gave, and every version of each as they saw it."""
    owned = db.session.scalars(
        select(Consent)
        .where(Consent.patient_id == patient.id)
        .order_by(Consent.created_at)
        .options(selectinload(Consent.grantee_org))
    ).all()
    history = db.session.scalars(
        select(ConsentVersion)
        .join(Consent, Consent.id == ConsentVersion.consent_id)
        .where(Consent.patient_id == patient.id)
        .order_by(ConsentVersion.consent_id, ConsentVersion.version)
    ).all()
    return {
        "consents": dump(ConsentOut(many=True), owned, now=now),
        "consent_versions": dump(VersionExportOut(many=True), history, now=now),
    }


def forget(patient: Patient, *, now: datetime) -> None:
    """Revoke every consent: nothing may be used once the patient is gone. The consents and
    their versions stay, pseudonymous, for the record. The organisations that held any of
    them are told the patient is gone (after each revocation)."""
    revoke_everything(patient, "erased at the patient's request", now=now)
    grantees = db.session.execute(
        select(Consent.grantee_org_id, Consent.grantee_org_type)
        .where(Consent.patient_id == patient.id)
        .distinct()
    ).all()
    if grantees:
        journal.record(
            kinds.PATIENT_ERASED,
            now=now,
            org_ids=[org_id for org_id, _ in grantees if org_id],
            org_types=[org_type for _, org_type in grantees if org_type],
            patient_id=patient.id,
        )
