"""Patient accounts: sign-up and credential checks. Services flush; they never commit."""

from __future__ import annotations

import uuid

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError

from consent_api.patients.models import Patient
from server.db import db, utcnow
from server.errors import Conflict, ValidationFailed

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
    if len(email) > 254:  # lower-casing can lengthen text ("İ" becomes two characters)
        raise ValidationFailed(errors={"email": ["Longer than 254 characters."]})
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
    if patient is None or patient.erased_at is not None:
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


def export(patient: Patient, *, now) -> dict:
    """Return everything the service holds about the patient, as JSON-ready data."""
    from consent_api.consents.models import Consent, ConsentVersion
    from consent_api.requests.models import ConsentRequest

    owned = db.session.scalars(
        select(Consent).where(Consent.patient_id == patient.id).order_by(Consent.created_at)
    ).all()
    history = db.session.scalars(
        select(ConsentVersion)
        .join(Consent, Consent.id == ConsentVersion.consent_id)
        .where(Consent.patient_id == patient.id)
        .order_by(ConsentVersion.consent_id, ConsentVersion.version)
    ).all()
    asked = db.session.scalars(
        select(ConsentRequest)
        .where(ConsentRequest.patient_id == patient.id)
        .order_by(ConsentRequest.created_at)
    ).all()
    return {
        **_export_consents(patient, owned, history, asked, now=now),
        **_export_activity(patient),
    }


def _export_activity(patient: Patient) -> dict:
    from consent_api.uses import service as uses
    from consent_api.uses.models import DataUse
    from notifications import devices, inbox, preferences
    from notifications.models import Notification

    used = db.session.scalars(
        select(DataUse)
        .where(DataUse.patient_id == patient.id)
        .order_by(DataUse.occurred_at, DataUse.id)
    ).all()
    notices = db.session.scalars(
        select(Notification)
        .where(Notification.patient_id == patient.id)
        .order_by(Notification.created_at, Notification.id)
    ).all()
    from consent_api.points import service as points
    from consent_api.points.models import Redemption

    now = utcnow()
    statement, _ = points.statement(patient.id, {"limit": 10**9})
    redeemed = db.session.scalars(
        select(Redemption)
        .where(Redemption.patient_id == patient.id)
        .order_by(Redemption.created_at, Redemption.id)
    ).all()
    return {
        "points": {
            **points.wallet(patient.id, now=now),
            "ledger": points.present_statement(statement),
            "redemptions": [
                {"id": r.id, "reward_id": r.reward_id, "cost": r.cost, "created_at": r.created_at}
                for r in redeemed
            ],
        },
        "emergency_access": patient.emergency_access,
        "access_log": uses.present_entries(list(used)),
        "notifications": [inbox.present(n) for n in notices],
        "devices": [devices.present(d) for d in devices.active(patient.id)],
        "notification_preferences": preferences.present(patient.id),
    }


def _export_consents(patient: Patient, owned, history, asked, *, now) -> dict:
    from consent_api.consents import service as consents
    from consent_api.requests import service as requests

    return {
        "exported_at": now,
        "profile": {
            "id": patient.id,
            "email": patient.email,
            "display_name": patient.display_name,
            "created_at": patient.created_at,
        },
        "consents": consents.present_many(owned, now=now),
        "consent_versions": [
            {
                "consent_id": v.consent_id,
                "version": v.version,
                "change": v.change,
                "created_at": v.created_at,
                "consent": v.snapshot,
            }
            for v in history
        ],
        "consent_requests": requests.present_many(asked, now=now),
    }


def erase(patient: Patient, *, now) -> None:
    """Erase the patient: revoke every consent, remove personal data and credentials, keep
    only the pseudonymous records (ids, consent history) that the audit trail needs."""
    from consent_api.auth.models import AuthorizationCode, OAuthToken
    from consent_api.consents import service as consents
    from notifications.models import Device, Notification, NotificationPreferences, OutboxMessage

    consents.revoke_everything(patient, "erased at the patient's request", now=now)
    devices = select(Device.id).where(Device.patient_id == patient.id).scalar_subquery()
    notices = select(Notification.id).where(Notification.patient_id == patient.id)
    db.session.execute(  # pushes to the patient's devices, and of the patient's notices
        delete(OutboxMessage)  # (to a phone that has since moved to another account)
        .where(
            or_(
                OutboxMessage.device_id.in_(devices),
                OutboxMessage.notification_id.in_(notices.scalar_subquery()),
            )
        )
        .execution_options(synchronize_session=False)
    )
    for model in (OAuthToken, AuthorizationCode, Device, Notification, NotificationPreferences):
        db.session.execute(
            delete(model)
            .where(model.patient_id == patient.id)
            .execution_options(synchronize_session=False)
        )
    patient.email = None
    patient.display_name = ""
    patient.password_hash = ""
    patient.erased_at = now
    db.session.flush()
