"""The uses package's part in the patient's export and erasure (the uses themselves stay
after erasure, pseudonymous: they are the organisations' record too; the refusal alerts,
which only pointed at the erased inbox, go)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete

from consent_api.patients.models import Patient
from consent_api.uses import access_log
from consent_api.uses.models import RefusalAlert
from consent_api.uses.schemas import AccessLogEntryOut
from server.db import db
from server.http import dump


def export_for(patient: Patient, *, now: datetime) -> dict[str, Any]:
    """The whole access history, oldest first."""
    return {
        "access_log": dump(AccessLogEntryOut(many=True), access_log.everything(patient), now=now)
    }


def forget(patient_id: uuid.UUID) -> None:
    """Drop the patient's refusal alerts (their notices go with the inbox)."""
    db.session.execute(delete(RefusalAlert).where(RefusalAlert.patient_id == patient_id))
