"""The patient the current request's token acts for."""

from __future__ import annotations

import uuid

from consent_api.patients.models import Patient
from server.db import db
from server.errors import Problem
from server.guard import acting_patient_id


def current_patient(*, held: bool = False) -> Patient:
    """Return the patient the current token was issued for (never an erased one).

    `held`: the patient's row is share-locked for the rest of the transaction, for a write
    that must not outlive an erasure: erasure locks the row before it removes anything
    (rights/service.py), so a write holding it either lands first (and is erased with the
    rest) or waits, then finds the patient erased."""
    patient = db.session.get(
        Patient,
        acting_patient_id(),
        with_for_update={"read": True} if held else None,
        populate_existing=held,
    )
    if patient is None or patient.erased_at is not None:
        raise Problem("This token does not act for a patient.", status=403, code="forbidden")
    return patient


def current_patient_id() -> uuid.UUID:
    """The patient id the current token acts for (for keys scoped to the caller)."""
    return current_patient().id
