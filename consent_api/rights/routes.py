"""The patient's export and erasure."""

from __future__ import annotations

from flask import Blueprint, current_app

from consent_api.patients.current import current_patient
from consent_api.rights import service
from server import scopes
from server.db import utcnow
from server.guard import require

bp = Blueprint("rights", __name__)


@bp.get("/v1/me/export")
@require(scopes.PATIENT)
def export():
    """Return everything the service holds about the patient (each part through its
    package's own output schemas)."""
    return current_app.json.response(service.export(current_patient(), now=utcnow()))


@bp.delete("/v1/me")
@require(scopes.PATIENT)
def erase():
    """Erase the patient's account: consents revoked, personal data and credentials gone."""
    service.erase(current_patient(), now=utcnow())
    return "", 204
