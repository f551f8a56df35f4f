"""Consents: the patient's own (/v1/me/consents) and those an organisation holds."""

from __future__ import annotations

import uuid

from flask import Blueprint, url_for

from consent_api import scopes
from consent_api.consents import org_view, service
from consent_api.consents.schemas import (
    ConsentIn,
    ConsentListQuery,
    ConsentOut,
    ConsentPatch,
    ConsentWithHistoryOut,
    OrgConsentListQuery,
    OrgConsentOut,
    ReasonIn,
    RevokeAllIn,
)
from consent_api.oauth import current_org, current_patient, require
from server.db import utcnow
from server.http import body, query

bp = Blueprint("consents", __name__)


def _out(consent, now):
    return ConsentOut().dump(service.present(consent, now=now))


@bp.post("/v1/me/consents")
@require(scopes.PATIENT)
@body(ConsentIn)
def create(body):
    """Grant a consent."""
    now = utcnow()
    consent = service.create(current_patient(), body, now=now)
    return _out(consent, now), 201, {"Location": url_for(".get", consent_id=consent.id)}


@bp.get("/v1/me/consents")
@require(scopes.PATIENT)
@query(ConsentListQuery)
def list_mine(query):
    """List the patient's consents, oldest first, a page at a time."""
    now = utcnow()
    items, next_cursor = service.list_for_patient(current_patient(), query, now=now)
    views = service.present_many(items, now=now)
    return {"items": ConsentOut(many=True).dump(views), "next_cursor": next_cursor}


@bp.get("/v1/me/consents/<uuid:consent_id>")
@require(scopes.PATIENT)
def get(consent_id: uuid.UUID):
    """Show one consent with its whole version history."""
    now = utcnow()
    consent = service.get(current_patient(), consent_id)
    view = service.present(consent, now=now)
    view["versions"] = [
        {
            "version": v.version,
            "change": v.change,
            "created_at": v.created_at,
            "consent": v.snapshot,
        }
        for v in service.versions(consent)
    ]
    return ConsentWithHistoryOut().dump(view)


@bp.patch("/v1/me/consents/<uuid:consent_id>")
@require(scopes.PATIENT)
@body(ConsentPatch, partial=True)
def amend(consent_id: uuid.UUID, body):
    """Amend a consent's terms; answers with the new version."""
    now = utcnow()
    return _out(service.amend(current_patient(), consent_id, body, now=now), now)


@bp.post("/v1/me/consents/<uuid:consent_id>/pause")
@require(scopes.PATIENT)
def pause(consent_id: uuid.UUID):
    """Pause a consent."""
    now = utcnow()
    return _out(service.pause(current_patient(), consent_id, now=now), now)


@bp.post("/v1/me/consents/<uuid:consent_id>/resume")
@require(scopes.PATIENT)
def resume(consent_id: uuid.UUID):
    """Resume a paused consent."""
    now = utcnow()
    return _out(service.resume(current_patient(), consent_id, now=now), now)


@bp.post("/v1/me/consents/<uuid:consent_id>/revoke")
@require(scopes.PATIENT)
@body(ReasonIn, optional=True)
def revoke(consent_id: uuid.UUID, body):
    """Revoke a consent, irreversibly; effective on the very next check."""
    now = utcnow()
    return _out(service.revoke(current_patient(), consent_id, body["reason"], now=now), now)


@bp.post("/v1/me/consents/revoke-all")
@require(scopes.PATIENT)
@body(RevokeAllIn)
def revoke_all(body):
    """Stop one organisation: revoke what names it, exclude it from type-wide grants."""
    now = utcnow()
    changed = service.revoke_all_for_org(current_patient(), body["org_id"], body["reason"], now=now)
    return {"items": ConsentOut(many=True).dump(service.present_many(changed, now=now))}


@bp.get("/v1/consents")
@require(scopes.CONSENT_READ)
@query(OrgConsentListQuery)
def list_granted(query):
    """List the consents granted to the calling organisation, for a local mirror."""
    now = utcnow()
    org = current_org()
    items, next_cursor = org_view.list_for_org(org, query, now=now)
    return {
        "items": [OrgConsentOut().dump(org_view.present(c, org, now=now)) for c in items],
        "next_cursor": next_cursor,
    }
