"""Consent requests: organisations file and follow them; patients approve or deny."""

from __future__ import annotations

import uuid

from flask import Blueprint, url_for

from consent_api import scopes
from consent_api.consents import service as consents
from consent_api.consents.schemas import ConsentOut, ReasonIn
from consent_api.oauth import current_org, current_patient, require
from consent_api.requests import service
from consent_api.requests.schemas import ApproveIn, RequestIn, RequestListQuery, RequestOut
from server.db import utcnow
from server.http import body, query

bp = Blueprint("requests", __name__)


def _out(request, now):
    return RequestOut().dump(service.present(request, now=now))


def _page(items, next_cursor, now):
    views = service.present_many(items, now=now)
    return {"items": RequestOut(many=True).dump(views), "next_cursor": next_cursor}


@bp.post("/v1/consent-requests")
@require(scopes.CONSENT_REQUEST)
@body(RequestIn)
def create(body):
    """Ask a patient for consent."""
    now = utcnow()
    request = service.create(current_org(), body, now=now)
    location = url_for(".get_for_org", request_id=request.id)
    return _out(request, now), 201, {"Location": location}


@bp.get("/v1/consent-requests")
@require(scopes.CONSENT_REQUEST)
@query(RequestListQuery)
def list_for_org(query):
    """List the calling organisation's requests."""
    now = utcnow()
    return _page(*service.list_for_org(current_org(), query, now=now), now)


@bp.get("/v1/consent-requests/<uuid:request_id>")
@require(scopes.CONSENT_REQUEST)
def get_for_org(request_id: uuid.UUID):
    """Follow one of the calling organisation's requests."""
    return _out(service.get_for_org(current_org(), request_id), utcnow())


@bp.post("/v1/consent-requests/<uuid:request_id>/withdraw")
@require(scopes.CONSENT_REQUEST)
def withdraw(request_id: uuid.UUID):
    """Withdraw a pending request."""
    now = utcnow()
    return _out(service.withdraw(current_org(), request_id, now=now), now)


@bp.get("/v1/me/consent-requests")
@require(scopes.PATIENT)
@query(RequestListQuery)
def list_mine(query):
    """List the requests addressed to the patient."""
    now = utcnow()
    return _page(*service.list_for_patient(current_patient(), query, now=now), now)


@bp.get("/v1/me/consent-requests/<uuid:request_id>")
@require(scopes.PATIENT)
def get_mine(request_id: uuid.UUID):
    """Show one request addressed to the patient."""
    return _out(service.get_for_patient(current_patient(), request_id), utcnow())


@bp.post("/v1/me/consent-requests/<uuid:request_id>/approve")
@require(scopes.PATIENT)
@body(ApproveIn, optional=True, partial=True)
def approve(request_id: uuid.UUID, body):
    """Approve a request, optionally narrowed; answers with the new consent."""
    now = utcnow()
    consent = service.approve(current_patient(), request_id, body, now=now)
    location = url_for("consents.get", consent_id=consent.id)
    return ConsentOut().dump(consents.present(consent, now=now)), 201, {"Location": location}


@bp.post("/v1/me/consent-requests/<uuid:request_id>/deny")
@require(scopes.PATIENT)
@body(ReasonIn, optional=True)
def deny(request_id: uuid.UUID, body):
    """Deny a request."""
    now = utcnow()
    return _out(service.deny(current_patient(), request_id, body["reason"], now=now), now)
