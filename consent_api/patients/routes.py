"""Patient sign-up and profile."""

from __future__ import annotations

from flask import Blueprint, current_app, url_for

from consent_api import scopes
from consent_api.oauth import current_patient, public, require
from consent_api.patients import service
from consent_api.patients.schemas import EmergencyAccess, PatientIn, PatientOut
from server.db import utcnow
from server.http import body
from server.ratelimit import configured, limiter

bp = Blueprint("patients", __name__)


@bp.post("/v1/patients")
@public
@limiter.limit(configured("RATELIMIT_SIGNUP"))
@body(PatientIn)
def sign_up(body):
    """Create a patient account."""
    patient = service.sign_up(**body)
    return PatientOut().dump(patient), 201, {"Location": url_for(".me")}


@bp.get("/v1/me")
@require(scopes.PATIENT)
def me():
    """Return the calling patient's profile."""
    return PatientOut().dump(current_patient())


@bp.get("/v1/me/emergency-access")
@require(scopes.PATIENT)
def get_emergency_access():
    """Whether emergency treatment access without a consent is allowed (the default)."""
    return EmergencyAccess().dump({"allowed": current_patient().emergency_access})


@bp.put("/v1/me/emergency-access")
@require(scopes.PATIENT)
@body(EmergencyAccess)
def put_emergency_access(body):
    """Allow emergency access, or opt out of it."""
    patient = current_patient()
    patient.emergency_access = body["allowed"]
    return EmergencyAccess().dump({"allowed": patient.emergency_access})


@bp.get("/v1/me/export")
@require(scopes.PATIENT)
def export():
    """Return everything the service holds about the patient."""
    document = service.export(current_patient(), now=utcnow())
    return current_app.json.response(document)


@bp.delete("/v1/me")
@require(scopes.PATIENT)
def erase():
    """Erase the patient's account: consents revoked, personal data and credentials gone."""
    service.erase(current_patient(), now=utcnow())
    return "", 204
