"""The audit log's part in erasure: the patient's key goes, so their payloads can no longer be
read; the entries, leaves and proofs stay (the record, pseudonymous, as erasure keeps it)."""

from __future__ import annotations

import uuid

from sqlalchemy import delete

from consent_api.audit.models import AuditKey
from server.db import db


def forget(patient_id: uuid.UUID) -> None:
    """Destroy the patient's payload key."""
    db.session.execute(delete(AuditKey).where(AuditKey.patient_id == patient_id))
