"""The uses package's part in the patient's export (the uses themselves stay after erasure,
pseudonymous: they are the organisations' record too)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from consent_api.patients.models import Patient
from consent_api.uses import access_log
from consent_api.uses.schemas import AccessLogEntryOut
from server.http import dump


def export_for(patient: Patient, *, now: datetime) -> dict[str, Any]:
    """The whole access history, oldest first."""
    return {
        "access_log": dump(AccessLogEntryOut(many=True), access_log.everything(patient), now=now)
    }
