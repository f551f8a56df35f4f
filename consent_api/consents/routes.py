"""Consents: the patient's own (/v1/me/consents) and those an organisation holds."""

from __future__ import annotations

import uuid

from flask import Blueprint, current_app, url_for

from consent_api.consents import listing, receipts, service
from consent_api.consents.schemas import (
    ConsentIn,
    ConsentListOut,
    ConsentListQuery,
    ConsentOut,
    ConsentPageOut,
    ConsentPatch,
    ConsentWithHistoryOut,
    HeldConsentOut,
    OrgConsentListQuery,
    OrgConsentPageOut,
    ReasonIn,
    ReceiptOut,
    ReceiptQuery,
    RevokeAllIn,
)
from consent_api.orgs.current import current_org, current_org_ref
from consent_api.patients.current import current_patient
from server import scopes
from server.db import utcnow
from server.guard import require
from server.http import body, issuer, output, query

bp = Blueprint("consents", __name__)


@bp.post("/v1/me/consents")
@require(scopes.PATIENT)
@output(ConsentOut, status=201)
@body(ConsentIn)
def create(body):
    """Grant a consent."""
    consent = service.create(current_patient(), body, now=utcnow())
    return consent, {"Location": url_for(".get", consent_id=consent.id)}


@bp.get("/v1/me/consents")
@require(scopes.PATIENT)
@output(ConsentPageOut)
@query(ConsentListQuery)
def list_mine(query):
    """List the patient's consents, oldest first, a page at a time."""
    return listing.for_patient(current_patient(), query, now=utcnow())


@bp.get("/v1/me/consents/<uuid:consent_id>")
@require(scopes.PATIENT)
@output(ConsentWithHistoryOut)
def get(consent_id: uuid.UUID):
    """Show one consent with its whole version history."""
    return service.get(current_patient(), consent_id)


@bp.get("/v1/me/consents/<uuid:consent_id>/receipt")
@require(scopes.PATIENT)
@output(ReceiptOut)
@query(ReceiptQuery)
def receipt(consent_id: uuid.UUID, query):
    """The signed receipt of a version of one of the patient's consents (the latest unless
    asked)."""
    patient, version = current_patient(), query.get("version")
    return receipts.for_patient(patient, consent_id, version, controller=_controller())


@bp.patch("/v1/me/consents/<uuid:consent_id>")
@require(scopes.PATIENT)
@output(ConsentOut)
@body(ConsentPatch, partial=True)
def amend(consent_id: uuid.UUID, body):
    """Amend a consent's terms; answers with the new version."""
    return service.amend(current_patient(), consent_id, body, now=utcnow())


@bp.post("/v1/me/consents/<uuid:consent_id>/pause")
@require(scopes.PATIENT)
@output(ConsentOut)
def pause(consent_id: uuid.UUID):
    """Pause a consent."""
    return service.pause(current_patient(), consent_id, now=utcnow())


@bp.post("/v1/me/consents/<uuid:consent_id>/resume")
@require(scopes.PATIENT)
@output(ConsentOut)
def resume(consent_id: uuid.UUID):
    """Resume a paused consent."""
    return service.resume(current_patient(), consent_id, now=utcnow())


@bp.post("/v1/me/consents/<uuid:consent_id>/revoke")
@require(scopes.PATIENT)
@output(ConsentOut)
@body(ReasonIn, optional=True)
def revoke(consent_id: uuid.UUID, body):
    """Revoke a consent, irreversibly; effective on the very next check."""
    return service.revoke(current_patient(), consent_id, body["reason"], now=utcnow())


@bp.post("/v1/me/consents/revoke-all")
@require(scopes.PATIENT)
@output(ConsentListOut)
@body(RevokeAllIn)
def revoke_all(body):
    """Stop one organisation: revoke what names it, exclude it from type-wide grants."""
    patient = current_patient()
    changed = service.revoke_all_for_org(patient, body["org_id"], body["reason"], now=utcnow())
    return {"items": changed}


@bp.get("/v1/consents")
@require(scopes.CONSENT_READ)
@output(OrgConsentPageOut, context=lambda: {"viewer": current_org_ref().id})
@query(OrgConsentListQuery)
def list_granted(query):
    """List the consents granted to the calling organisation, for a local mirror."""
    return listing.for_org(current_org(), query, now=utcnow())


@bp.get("/v1/consents/<uuid:consent_id>")
@require(scopes.CONSENT_READ)
@output(HeldConsentOut, context=lambda: {"viewer": current_org_ref().id})
def get_granted(consent_id: uuid.UUID):
    """Show one consent granted to the calling organisation, by the id it was shown."""
    return listing.one_for_org(current_org(), consent_id)


@bp.get("/v1/consents/<uuid:consent_id>/receipt")
@require(scopes.CONSENT_READ)
@output(ReceiptOut)
@query(ReceiptQuery)
def granted_receipt(consent_id: uuid.UUID, query):
    """The signed receipt of a version of a consent the calling organisation holds."""
    org, version = current_org(), query.get("version")
    return receipts.for_org(org, consent_id, version, controller=_controller())


def _controller() -> receipts.Controller:
    return receipts.Controller.configured(current_app.config, url=issuer())
