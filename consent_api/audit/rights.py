"""The audit log's part in export and erasure. Erasure destroys the patient's key, so their
payloads can no longer be read; the entries, leaves and proofs stay (the record,
pseudonymous, as erasure keeps it), and no entry is written about the patient again."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import update

from consent_api.audit import log, reading
from consent_api.audit.models import AuditKey
from consent_api.audit.schemas import exported
from server.db import core


def export_for(patient: Any, *, now: datetime) -> dict[str, Any]:
    """The patient's audit entries, each with its payload, salt and inclusion proof in the
    latest signed checkpoint: `consent-wallet audit check-export` checks them offline."""
    return {"audit": exported(reading.export_for_patient(patient.id))}


def forget(patient_id: uuid.UUID, *, now: datetime) -> None:
    """Record the erasure, sealed under the patient's key, then destroy the key (call it
    after every other change of the erasure is audited: their payloads go with it). The
    key's row stays, emptied: nothing written about the patient later makes them a new one."""
    log.record(
        "patient.erased",
        actor=log.Actor.patient(patient_id),
        subjects={"patient": patient_id},
        payload={"erased_at": now.isoformat()},
        now=now,
        patient_id=patient_id,
    )
    destroyed = {"key": None, "destroyed_at": now}
    core().execute(update(AuditKey).where(AuditKey.patient_id == patient_id).values(destroyed))
    log.forgotten(patient_id)
