"""The patient's consents: grant, amend, pause, resume, revoke. Services flush only."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select

from consent_api.consents import notices, propagation, versions
from consent_api.consents.models import PATIENT_ERASED, REVOKED_BY_PATIENT, Consent
from consent_api.consents.propagation import WithPropagation
from consent_api.consents.scope import (
    apply_scope,
    check_orgs_exist,
    check_still_valid,
    write_summary,
)
from consent_api.orgs.models import Organisation
from consent_api.patients.models import Patient
from server.db import db
from server.errors import Conflict, NotFound, ValidationFailed


class ConsentClosed(Conflict):
    """The consent is revoked or expired: it can no longer change."""

    code = "consent_closed"


def create(
    patient: Patient,
    body: dict[str, Any],
    *,
    now: datetime,
    fee_per_use: int = 0,
    request_id: uuid.UUID | None = None,
) -> Consent:
    """Grant a consent; version 1 is recorded with it."""
    grantee = body["grantee"]
    check_orgs_exist(body, grantee.get("org_id"))
    check_still_valid(body, now=now)
    consent = Consent(
        id=uuid.uuid4(),
        patient_id=patient.id,
        grantee_org_id=grantee.get("org_id"),
        grantee_org_type=grantee.get("org_type"),
        valid_from=now,
        valid_until=None,
        max_uses=None,
        exclusions=[],
        use_count=0,
        fee_per_use=fee_per_use,
        status="active",
        version=1,
        request_id=request_id,
        created_at=now,
        updated_at=now,
    )
    apply_scope(consent, body)
    write_summary(consent)
    db.session.add(consent)
    db.session.flush()
    versions.record(consent, "created", now=now)
    db.session.flush()
    return consent


def _owned(patient: Patient, consent_id: uuid.UUID, *, lock: bool = False) -> Consent:
    statement = select(Consent).where(Consent.id == consent_id, Consent.patient_id == patient.id)
    if lock:
        statement = statement.with_for_update()
    consent = db.session.scalar(statement)
    if consent is None:
        raise NotFound("No consent with this id.")
    return consent


def get(patient: Patient, consent_id: uuid.UUID) -> WithPropagation:
    """Return one of the patient's consents, or 404 (also for other patients' consents),
    with who has received each of its changes."""
    consent = _owned(patient, consent_id)
    return WithPropagation(consent, propagation.of(patient.id, consent.id))


def _modifiable(consent: Consent, *, now: datetime) -> None:
    status = consent.effective_status(now)
    if status in ("revoked", "expired"):
        raise ConsentClosed(f"This consent is {status}; grant a new one instead.")


def bump(consent: Consent, change: str, *, now: datetime) -> Consent:
    """Make the consent's current terms a new version, kept with its summary."""
    consent.version += 1
    consent.updated_at = now
    write_summary(consent)
    db.session.flush()
    versions.record(consent, change, now=now)
    db.session.flush()
    return consent


def amend(patient: Patient, consent_id: uuid.UUID, changes: dict, *, now: datetime) -> Consent:
    """Change a consent's terms; the new version is recorded, the old ones stay readable."""
    consent = _owned(patient, consent_id, lock=True)
    _modifiable(consent, now=now)
    if not changes:
        raise ValidationFailed(errors={"_schema": ["Send at least one field to change."]})
    check_orgs_exist(changes, None)
    check_still_valid(changes, now=now)
    apply_scope(consent, changes)
    if consent.valid_until is not None and consent.valid_until <= consent.valid_from:
        raise ValidationFailed(errors={"valid_until": ["Must be after valid_from."]})
    return bump(consent, "amended", now=now)


def pause(patient: Patient, consent_id: uuid.UUID, *, now: datetime) -> Consent:
    """Suspend a consent; checks deny with `paused` until it is resumed."""
    consent = _owned(patient, consent_id, lock=True)
    _modifiable(consent, now=now)
    if consent.status == "paused":
        return consent
    consent.status = "paused"
    return bump(consent, "paused", now=now)


def resume(patient: Patient, consent_id: uuid.UUID, *, now: datetime) -> Consent:
    """Lift a pause."""
    consent = _owned(patient, consent_id, lock=True)
    _modifiable(consent, now=now)
    if consent.status == "active":
        return consent
    consent.status = "active"
    return bump(consent, "resumed", now=now)


def _revoke(
    consent: Consent, reason: str | None, *, now: datetime, code: str = REVOKED_BY_PATIENT
) -> Consent:
    consent.status = "revoked"
    consent.revoked_at = now
    consent.revoke_reason = reason
    consent.revocation_reason = code
    return bump(consent, "revoked", now=now)


def revoke(
    patient: Patient, consent_id: uuid.UUID, reason: str | None, *, now: datetime
) -> Consent:
    """Withdraw a consent for good; the next check, in any process, denies."""
    consent = _owned(patient, consent_id, lock=True)
    if consent.status == "revoked":
        return consent
    _revoke(consent, reason, now=now)
    _confirm_revoked(patient, [consent], now=now)
    return consent


def _confirm_revoked(patient: Patient, changed: list[Consent], *, now: datetime) -> None:
    notices.consents_revoked(patient.id, changed, now=now)


def revoke_all_for_org(
    patient: Patient, org_id: uuid.UUID, reason: str | None, *, now: datetime
) -> list[Consent]:
    """Stop one organisation entirely: revoke the consents naming it, and exclude it from the
    patient's consents that cover its whole type. Returns every consent changed."""
    org = db.session.get(Organisation, org_id)
    if org is None:
        raise ValidationFailed(errors={"org_id": ["No organisation with this id."]})
    changed = []
    candidates = db.session.scalars(
        select(Consent)
        .where(
            Consent.patient_id == patient.id,
            Consent.status.in_(("active", "paused")),
            or_(Consent.grantee_org_id == org.id, Consent.grantee_org_type == org.type),
        )
        .order_by(Consent.id)  # the lock order of data uses (decisions/locking.py)
        .with_for_update()
    ).all()
    for consent in sorted(candidates, key=lambda c: (c.created_at, c.id)):
        if consent.grantee_org_id == org.id:
            changed.append(_revoke(consent, reason, now=now))
        elif not any(e.get("org_ids") == [str(org.id)] and len(e) == 1 for e in consent.exclusions):
            consent.exclusions = [*consent.exclusions, {"org_ids": [str(org.id)]}]
            changed.append(bump(consent, "amended", now=now))
    if changed:
        _confirm_revoked(patient, [c for c in changed if c.status == "revoked"] or changed, now=now)
    return changed


def revoke_everything(patient: Patient, reason: str, *, now: datetime) -> int:
    """Revoke every consent the patient holds (erasure); returns how many changed."""
    count = 0
    for consent in db.session.scalars(
        select(Consent)
        .where(Consent.patient_id == patient.id, Consent.status != "revoked")
        .order_by(Consent.id)  # the lock order of data uses (decisions/locking.py)
        .with_for_update()
    ).all():
        _revoke(consent, reason, now=now, code=PATIENT_ERASED)
        count += 1
    return count
