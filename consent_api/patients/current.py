"""The patient the current request's token acts for."""

from __future__ import annotations

import uuid

from consent_api.patients.models import Patient
from server.db import db
from server.errors import Problem
from server.guard import acting_patient_id


def current_patient() -> Patient:
    """Return the patient the current token was issued for (never an erased one)."""
    patient = db.session.get(Patient, acting_patient_id())
    if patient is None or patient.erased_at is not None:
        raise Problem("This token does not act for a patient.", status=403, code="forbidden")
    return patient


def current_patient_id() -> uuid.UUID:
    """The patient id the current token acts for (for keys scoped to the caller)."""
    return current_patient().id
