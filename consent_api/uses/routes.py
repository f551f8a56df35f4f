"""Data uses: organisations report each use; patients read their access history."""

from __future__ import annotations

from flask import Blueprint

from consent_api.orgs.current import current_org_ref
from consent_api.patients.current import current_patient
from consent_api.uses import access_log, listing, service
from consent_api.uses.schemas import (
    AccessLogPageOut,
    AccessLogQuery,
    DataUseIn,
    DataUseOut,
    DataUsePageOut,
    DataUseQuery,
)
from server import scopes
from server.db import utcnow
from server.guard import require
from server.http import body, output, query
from server.idempotency import idempotent

bp = Blueprint("uses", __name__)


@bp.post("/v1/data-uses")
@require(scopes.DATA_USE_WRITE)
@idempotent(lambda: current_org_ref().id)
@output(DataUseOut, status=201)
@body(DataUseIn)
def report(body):
    """Report one use; decided at `occurred_at`. A refusal is recorded and the patient told."""
    return service.report(current_org_ref(), body, now=utcnow())


@bp.get("/v1/data-uses")
@require(scopes.DATA_USE_WRITE)
@output(DataUsePageOut)
@query(DataUseQuery)
def list_reported(query):
    """The calling organisation's own reports (uses and refused attempts), newest first."""
    return listing.for_org(current_org_ref(), query)


@bp.get("/v1/me/access-log")
@require(scopes.PATIENT)
@output(AccessLogPageOut)
@query(AccessLogQuery)
def access_log_page(query):
    """Every use of the patient's data and every refused attempt, newest first."""
    return access_log.page(current_patient(), query)
