"""Patient sign-up and profile."""

from __future__ import annotations

from flask import Blueprint, url_for

from consent_api import scopes
from consent_api.oauth import current_patient, public, require
from consent_api.patients import service
from consent_api.patients.schemas import PatientIn, PatientOut
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
