"""The links package's part in the patient's export and erasure."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from consent_api.links import service
from consent_api.links.schemas import LinkOut
from consent_api.patients.models import Patient
from server.http import dump


def export_for(patient: Patient, *, now: datetime) -> dict[str, Any]:
    """The active links."""
    return {"links": dump(LinkOut(many=True), service.active_links(patient), now=now)}


def forget(patient: Patient) -> None:
    """Links and codes go: an organisation's identifier for the patient is personal data."""
    service.forget(patient.id)
