"""Patient accounts: sign-up and credential checks. Services flush; they never commit."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from consent_api.patients.models import Patient
from consent_api.patients.passwords import passwords, weakness
from server.db import db
from server.errors import Conflict, ValidationFailed


class EmailTaken(Conflict):
    """Another patient already signed up with this e-mail."""

    code = "email_taken"


def normalise_email(email: str) -> str:
    """Return the canonical form we store and look e-mails up by."""
    return email.strip().lower()


def sign_up(*, email: str, password: str, display_name: str) -> Patient:
    """Create a patient with an argon2-hashed password, refusing one easy to guess."""
    email = normalise_email(email)
    if len(email) > 254:  # lower-casing can lengthen text ("İ" becomes two characters)
        raise ValidationFailed(errors={"email": ["Longer than 254 characters."]})
    weak = weakness(password, personal=(email, display_name))
    if weak:
        raise ValidationFailed(errors={"password": [weak]})
    taken = db.session.scalar(select(func.count()).where(Patient.email == email))
    if taken:
        raise EmailTaken("A patient with this e-mail already exists.", errors={"email": ["taken"]})
    patient = Patient(
        email=email, password_hash=passwords().hash(password), display_name=display_name
    )
    db.session.add(patient)
    try:
        db.session.flush()
    except IntegrityError as exc:  # a concurrent sign-up won the race for this e-mail
        raise EmailTaken("A patient with this e-mail already exists.") from exc
    return patient


def authenticate(email: str, password: str) -> Patient | None:
    """Return the patient these credentials belong to, or None."""
    patient = db.session.scalar(select(Patient).where(Patient.email == normalise_email(email)))
    hashing = passwords()
    if not hashing.verify(patient.password_hash if patient else None, password):
        return None
    if patient.erased_at is not None:
        return None
    if hashing.needs_rehash(patient.password_hash):
        patient.password_hash = hashing.hash(password)
    return patient


def update_profile(patient: Patient, changes: dict[str, Any]) -> Patient:
    """Change the patient's display name."""
    patient.display_name = changes["display_name"]
    db.session.flush()
    return patient


def change_password(patient: Patient, *, current: str, new: str) -> None:
    """Replace the password, given the current one; the new one is held to sign-up's rules."""
    if not passwords().verify(patient.password_hash, current):
        raise ValidationFailed(errors={"current_password": ["Not your current password."]})
    if new == current:
        raise ValidationFailed(
            errors={"new_password": ["Choose a password other than your current one."]}
        )
    weak = weakness(new, personal=(patient.email, patient.display_name))
    if weak:
        raise ValidationFailed(errors={"new_password": [weak]})
    patient.password_hash = passwords().hash(new)
    db.session.flush()


def set_emergency_access(patient: Patient, *, allowed: bool) -> Patient:
    """Allow emergency treatment access without a consent, or opt out of it."""
    patient.emergency_access = allowed
    db.session.flush()
    return patient
