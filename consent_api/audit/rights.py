"""The audit log's part in export and erasure. Erasure destroys the patient's key, so their
payloads can no longer be read; the entries, leaves and proofs stay (the record,
pseudonymous, as erasure keeps it)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete

from consent_api.audit import log, reading
from consent_api.audit.models import AuditKey
from consent_api.audit.schemas import exported
from server.db import db


def export_for(patient: Any, *, now: datetime) -> dict[str, Any]:
    """The patient's audit entries, each with its payload, salt and inclusion proof in the
    latest signed checkpoint: `consent-wallet audit check-export` checks them offline."""
    return {"audit": exported(reading.export_for_patient(patient.id))}


def forget(patient_id: uuid.UUID, *, now: datetime) -> None:
    """Record the erasure, sealed under the patient's key, then destroy the key (call it
    after every other change of the erasure is audited: their payloads go with it)."""
    log.record(
        "patient.erased",
        actor=log.Actor.patient(patient_id),
        subjects={"patient": patient_id},
        payload={"erased_at": now.isoformat()},
        now=now,
        patient_id=patient_id,
    )
    db.session.execute(delete(AuditKey).where(AuditKey.patient_id == patient_id))
    log.forgotten(patient_id)
