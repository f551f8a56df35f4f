"""Patient sign-up, profile and the emergency-access setting."""

from __future__ import annotations

from flask import Blueprint, url_for

from consent_api.patients import service
from consent_api.patients.current import current_patient
from consent_api.patients.schemas import (
    EmergencyAccessIn,
    EmergencyAccessOut,
    PatientIn,
    PatientOut,
    ProfilePatch,
)
from server import scopes
from server.guard import public, require
from server.http import body, output
from server.ratelimit import configured, limiter

bp = Blueprint("patients", __name__)


@bp.post("/v1/patients")
@public
@limiter.limit(configured("RATELIMIT_SIGNUP"))
@output(PatientOut, status=201)
@body(PatientIn)
def sign_up(body):
    """Create a patient account."""
    return service.sign_up(**body), {"Location": url_for(".me")}


@bp.get("/v1/me")
@require(scopes.PATIENT)
@output(PatientOut)
def me():
    """Return the calling patient's profile."""
    return current_patient()


@bp.patch("/v1/me")
@require(scopes.PATIENT)
@output(PatientOut)
@body(ProfilePatch)
def edit_me(body):
    """Change the calling patient's display name."""
    return service.update_profile(current_patient(), body)


@bp.get("/v1/me/emergency-access")
@require(scopes.PATIENT)
@output(EmergencyAccessOut)
def get_emergency_access():
    """Whether emergency treatment access without a consent is allowed (the default)."""
    return current_patient()


@bp.put("/v1/me/emergency-access")
@require(scopes.PATIENT)
@output(EmergencyAccessOut)
@body(EmergencyAccessIn)
def put_emergency_access(body):
    """Allow emergency access, or opt out of it."""
    return service.set_emergency_access(current_patient(), allowed=body["allowed"])
