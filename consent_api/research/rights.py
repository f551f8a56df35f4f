"""The research package's part in export and erasure."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from consent_api.patients.models import Patient
from consent_api.research import preferences
from consent_api.research.schemas import PreferencesOut
from server.http import dump


def export_for(patient: Patient, *, now: datetime) -> dict[str, Any]:
    """The research preferences, as the patient set them."""
    return {"research_preferences": dump(PreferencesOut(), preferences.get(patient.id), now=now)}


def forget(patient_id: uuid.UUID) -> None:
    """Delete the preferences."""
    preferences.forget(patient_id)
