"""Data uses: organisations report each use; patients read their access history."""

from __future__ import annotations

from flask import Blueprint

from consent_api import scopes
from consent_api.oauth import current_org_ref, current_patient, require
from consent_api.uses import service
from consent_api.uses.schemas import AccessLogEntryOut, AccessLogQuery, DataUseIn, DataUseOut
from server.db import keep_changes_on_error, utcnow
from server.errors import Forbidden
from server.http import body, query
from server.idempotency import idempotent

bp = Blueprint("uses", __name__)
_USE_OUT = DataUseOut()


@bp.post("/v1/data-uses")
@require(scopes.DATA_USE_WRITE)
@idempotent(lambda: current_org_ref().id)
@body(DataUseIn)
def report(body):
    """Report one use; decided at `occurred_at`. A refusal is recorded and the patient told."""
    use = service.report(current_org_ref(), body, now=utcnow())
    if use.outcome == "refused":
        keep_changes_on_error()  # the attempt and the patient's alert stay on record
        raise Forbidden(
            "No consent permits this use; the attempt was recorded and the patient alerted.",
            code="use_not_permitted",
            reason=use.reason,
            data_use_id=str(use.id),
        )
    return _USE_OUT.dump(service.present(use)), 201


@bp.get("/v1/me/access-log")
@require(scopes.PATIENT)
@query(AccessLogQuery)
def access_log(query):
    """Every use of the patient's data and every refused attempt, newest first."""
    uses, next_cursor = service.access_log(current_patient(), query)
    entries = service.present_entries(uses)
    return {"items": AccessLogEntryOut(many=True).dump(entries), "next_cursor": next_cursor}
