"""Export and erasure ask every package that holds something of the patient for its part;
none of them knows of the others. Services flush, never commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from consent_api.abuse import rights as abuse
from consent_api.audit import rights as audit
from consent_api.auth import rights as auth
from consent_api.consents import rights as consents
from consent_api.links import rights as links
from consent_api.patients import rights as patients
from consent_api.patients.models import Patient
from consent_api.points import rights as points
from consent_api.requests import rights as requests
from consent_api.research import rights as research
from consent_api.uses import rights as uses
from notifications import rights as notifications
from server.db import db

# Who holds what of a patient, in the order the export reads them.
EXPORTERS = (
    patients,
    consents,
    links,
    requests,
    research,
    uses,
    abuse,
    points,
    notifications,
    audit,
)


def export(patient: Patient, *, now: datetime) -> dict[str, Any]:
    """Everything the service holds about the patient, as JSON-ready data."""
    document: dict[str, Any] = {"exported_at": now.isoformat()}
    for part in EXPORTERS:
        document.update(part.export_for(patient, now=now))
    return document


def erase(patient: Patient, *, now: datetime) -> None:
    """Erase the patient: revoke every consent, remove personal data and credentials, keep
    only the pseudonymous records (ids, consent history, uses, ledger) the record needs.

    The patient's row is locked before anything is removed: a write that holds it
    (current_patient(held=True)) lands before the erasure, and is erased with the rest, or
    waits and finds the patient erased; never a row left behind."""
    db.session.get(Patient, patient.id, with_for_update=True, populate_existing=True)
    consents.forget(patient, now=now)  # first: nothing may be used once they are gone
    links.forget(patient)
    research.forget(patient.id)
    notifications.forget(patient.id)
    uses.forget(patient.id)
    abuse.forget(patient.id)
    auth.forget(patient.id)
    audit.forget(patient.id, now=now)  # after every change above is audited
    patients.forget(patient, now=now)
