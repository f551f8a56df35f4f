"""Abuse detection's part in the patient's export and erasure: the incidents that concerned
the patient (the incidents themselves are the operator's record and stay, counting the
patient among their `patients`; the rows naming the patient go)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select

from consent_api.abuse.models import Incident, IncidentPatient
from consent_api.orgs.models import Organisation
from consent_api.patients.models import Patient
from server.db import db


def export_for(patient: Patient, *, now: datetime) -> dict[str, Any]:
    """Each incident that concerned the patient, oldest first: who, which rule, when told."""
    rows = db.session.execute(
        select(IncidentPatient.told_at, Incident.id, Incident.rule, Organisation.name)
        .join(Incident, Incident.id == IncidentPatient.incident_id)
        .join(Organisation, Organisation.id == Incident.org_id)
        .where(IncidentPatient.patient_id == patient.id)
        .order_by(IncidentPatient.told_at, Incident.id)
    )
    return {
        "unusual_activity": [
            {
                "incident_id": str(incident_id),
                "org_name": org_name,
                "rule": rule,
                "told_at": told_at.isoformat(),
            }
            for told_at, incident_id, rule, org_name in rows
        ]
    }


def forget(patient_id: uuid.UUID) -> None:
    """Drop the rows naming the patient among an incident's."""
    db.session.execute(delete(IncidentPatient).where(IncidentPatient.patient_id == patient_id))
