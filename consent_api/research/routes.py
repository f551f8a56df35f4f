"""The patient's research preferences."""

from __future__ import annotations

from flask import Blueprint

from consent_api.patients.current import current_patient, current_patient_id
from consent_api.research import preferences
from consent_api.research.schemas import PreferencesIn, PreferencesOut
from server import scopes
from server.db import utcnow
from server.guard import require
from server.http import body, output

bp = Blueprint("research", __name__)


@bp.get("/v1/me/research-preferences")
@require(scopes.PATIENT)
@output(PreferencesOut)
def get_preferences():
    """Whether and for what the patient may be invited to studies (opted out by default)."""
    return preferences.get(current_patient_id())


@bp.put("/v1/me/research-preferences")
@require(scopes.PATIENT)
@output(PreferencesOut)
@body(PreferencesIn)
def put_preferences(body):
    """Opt in to invitations (for what, how often at most), change them, or opt out."""
    patient = current_patient(held=True)  # never saved for a patient being erased
    return preferences.replace(patient.id, body, now=utcnow())
