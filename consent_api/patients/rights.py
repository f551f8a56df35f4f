"""The patients package's part in export and erasure: the profile and its settings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from consent_api.patients.models import Patient
from consent_api.patients.schemas import ProfileExportOut
from server.db import db
from server.http import dump


def export_for(patient: Patient, *, now: datetime) -> dict[str, Any]:
    """The profile and the emergency-access setting."""
    return {
        "profile": dump(ProfileExportOut(), patient, now=now),
        "emergency_access": patient.emergency_access,
    }


def forget(patient: Patient, *, now: datetime) -> None:
    """Blank what identifies the patient; the id stays for the pseudonymous records."""
    patient.email = None
    patient.display_name = ""
    patient.password_hash = ""
    patient.erased_at = now
    db.session.flush()
