"""Consent requests: organisations file and follow them; patients approve or deny."""

from __future__ import annotations

import uuid

from flask import Blueprint, url_for

from consent_api.consents.schemas import ConsentOut, ReasonIn
from consent_api.orgs.current import current_org
from consent_api.patients.current import current_patient
from consent_api.requests import service
from consent_api.requests.schemas import (
    ApproveIn,
    OrgRequestOut,
    OrgRequestPageOut,
    RequestIn,
    RequestListQuery,
    RequestOut,
    RequestPageOut,
)
from server import scopes
from server.db import utcnow
from server.guard import require
from server.http import body, output, query

bp = Blueprint("requests", __name__)


@bp.post("/v1/consent-requests")
@require(scopes.CONSENT_REQUEST)
@output(OrgRequestOut, status=201)
@body(RequestIn)
def create(body):
    """Ask a patient for consent."""
    request = service.create(current_org(), body, now=utcnow())
    return request, {"Location": url_for(".get_for_org", request_id=request.id)}


@bp.get("/v1/consent-requests")
@require(scopes.CONSENT_REQUEST)
@output(OrgRequestPageOut)
@query(RequestListQuery)
def list_for_org(query):
    """List the calling organisation's requests."""
    return service.list_for_org(current_org(), query, now=utcnow())


@bp.get("/v1/consent-requests/<uuid:request_id>")
@require(scopes.CONSENT_REQUEST)
@output(OrgRequestOut)
def get_for_org(request_id: uuid.UUID):
    """Follow one of the calling organisation's requests."""
    return service.get_for_org(current_org(), request_id)


@bp.post("/v1/consent-requests/<uuid:request_id>/withdraw")
@require(scopes.CONSENT_REQUEST)
@output(OrgRequestOut)
def withdraw(request_id: uuid.UUID):
    """Withdraw a pending request."""
    return service.withdraw(current_org(), request_id, now=utcnow())


@bp.get("/v1/me/consent-requests")
@require(scopes.PATIENT)
@output(RequestPageOut)
@query(RequestListQuery)
def list_mine(query):
    """List the requests addressed to the patient."""
    return service.list_for_patient(current_patient(), query, now=utcnow())


@bp.get("/v1/me/consent-requests/<uuid:request_id>")
@require(scopes.PATIENT)
@output(RequestOut)
def get_mine(request_id: uuid.UUID):
    """Show one request addressed to the patient."""
    return service.read_by_patient(current_patient(), request_id, now=utcnow())


@bp.post("/v1/me/consent-requests/<uuid:request_id>/approve")
@require(scopes.PATIENT)
@output(ConsentOut, status=201)
@body(ApproveIn, optional=True, partial=True)
def approve(request_id: uuid.UUID, body):
    """Approve a request, optionally narrowed; answers with the new consent."""
    consent = service.approve(current_patient(), request_id, body, now=utcnow())
    return consent, {"Location": url_for("consents.get", consent_id=consent.id)}


@bp.post("/v1/me/consent-requests/<uuid:request_id>/deny")
@require(scopes.PATIENT)
@output(RequestOut)
@body(ReasonIn, optional=True)
def deny(request_id: uuid.UUID, body):
    """Deny a request."""
    return service.deny(current_patient(), request_id, body["reason"], now=utcnow())
