"""Patient accounts: sign-up and credential checks. Services flush; they never commit."""

from __future__ import annotations

import uuid

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from consent_api.patients.models import Patient
from server.db import db
from server.errors import Conflict

_hasher = PasswordHasher()
# Verifying against a real hash when the e-mail is unknown keeps login timing uniform.
_DUMMY_HASH = _hasher.hash("not-a-real-password-timing-pad")


class EmailTaken(Conflict):
    """Another patient already signed up with this e-mail."""

    code = "email_taken"


def normalise_email(email: str) -> str:
    """Return the canonical form we store and look e-mails up by."""
    return email.strip().lower()


def sign_up(*, email: str, password: str, display_name: str) -> Patient:
    """Create a patient with an argon2-hashed password."""
    email = normalise_email(email)
    taken = db.session.scalar(select(func.count()).where(Patient.email == email))
    if taken:
        raise EmailTaken("A patient with this e-mail already exists.", errors={"email": ["taken"]})
    patient = Patient(email=email, password_hash=_hasher.hash(password), display_name=display_name)
    db.session.add(patient)
    try:
        db.session.flush()
    except IntegrityError as exc:  # a concurrent sign-up won the race for this e-mail
        raise EmailTaken("A patient with this e-mail already exists.") from exc
    return patient


def authenticate(email: str, password: str) -> Patient | None:
    """Return the patient these credentials belong to, or None."""
    patient = db.session.scalar(select(Patient).where(Patient.email == normalise_email(email)))
    try:
        _hasher.verify(patient.password_hash if patient else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if patient is None:
        return None
    if _hasher.check_needs_rehash(patient.password_hash):
        patient.password_hash = _hasher.hash(password)
    return patient


def get(patient_id: uuid.UUID | str) -> Patient | None:
    """Return a patient by id, or None."""
    try:
        key = patient_id if isinstance(patient_id, uuid.UUID) else uuid.UUID(str(patient_id))
    except ValueError:
        return None
    return db.session.get(Patient, key)
