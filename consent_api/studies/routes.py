"""Studies: the sponsor registers and reads its own; the operator reviews them."""

from __future__ import annotations

import uuid

from flask import Blueprint, url_for

from consent_api.orgs.current import current_org, current_org_ref
from consent_api.studies import service
from consent_api.studies.schemas import ReviewIn, StudyIn, StudyListQuery, StudyOut, StudyPageOut
from server import scopes
from server.db import utcnow
from server.guard import require
from server.http import body, output, query

bp = Blueprint("studies", __name__)


@bp.post("/v1/studies")
@require(scopes.CONSENT_REQUEST)
@output(StudyOut, status=201)
@body(StudyIn)
def register(body):
    """Register a study; the operator reviews it before anyone is invited."""
    study = service.register(current_org(), body, now=utcnow())
    return study, {"Location": url_for(".get_study", study_id=study.id)}


@bp.get("/v1/studies")
@require(scopes.CONSENT_REQUEST)
@output(StudyPageOut)
@query(StudyListQuery)
def list_studies(query):
    """The calling organisation's studies, newest first."""
    return service.list_for_org(current_org_ref().id, query, now=utcnow())


@bp.get("/v1/studies/<uuid:study_id>")
@require(scopes.CONSENT_REQUEST)
@output(StudyOut)
def get_study(study_id: uuid.UUID):
    """One of the calling organisation's studies."""
    return service.get_for_org(current_org_ref().id, study_id, now=utcnow())


@bp.get("/v1/admin/studies")
@require(scopes.ADMIN)
@output(StudyPageOut)
@query(StudyListQuery)
def review_queue(query):
    """Every study, newest first; `status=submitted` is the review queue."""
    return service.list_all(query, now=utcnow())


@bp.post("/v1/admin/studies/<uuid:study_id>/approve")
@require(scopes.ADMIN)
@output(StudyOut)
@body(ReviewIn, optional=True)
def approve(study_id: uuid.UUID, body):
    """Approve a submitted study."""
    return service.review(study_id, approve=True, reason=body.get("reason"), now=utcnow())


@bp.post("/v1/admin/studies/<uuid:study_id>/reject")
@require(scopes.ADMIN)
@output(StudyOut)
@body(ReviewIn)
def reject(study_id: uuid.UUID, body):
    """Reject a submitted study, saying why."""
    return service.review(study_id, approve=False, reason=body.get("reason"), now=utcnow())
