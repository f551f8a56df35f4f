"""The operator's admin API for organisations and apps, and an organisation's own profile."""

from __future__ import annotations

import uuid

from flask import Blueprint

from consent_api import scopes
from consent_api.auth import service as clients
from consent_api.oauth import current_org, require
from consent_api.orgs import service
from consent_api.orgs.schemas import AppIn, AppOut, OrgCreatedOut, OrgIn, OrgOut
from server.http import body

bp = Blueprint("orgs", __name__)


@bp.post("/v1/admin/orgs")
@require(scopes.ADMIN)
@body(OrgIn)
def create_org(body):
    """Register an organisation and its client credentials."""
    registration = service.register(**body)
    return OrgCreatedOut().dump(registration.as_dict()), 201


@bp.get("/v1/admin/orgs")
@require(scopes.ADMIN)
def list_orgs():
    """List every organisation."""
    return {"items": OrgOut(many=True).dump(service.list_all())}


@bp.get("/v1/admin/orgs/<uuid:org_id>")
@require(scopes.ADMIN)
def get_org(org_id: uuid.UUID):
    """Show one organisation."""
    return OrgOut().dump(service.get(org_id))


@bp.post("/v1/admin/orgs/<uuid:org_id>/suspend")
@require(scopes.ADMIN)
def suspend_org(org_id: uuid.UUID):
    """Suspend an organisation; its tokens stop working at once."""
    return OrgOut().dump(service.suspend(org_id))


@bp.post("/v1/admin/orgs/<uuid:org_id>/resume")
@require(scopes.ADMIN)
def resume_org(org_id: uuid.UUID):
    """Lift an organisation's suspension."""
    return OrgOut().dump(service.resume(org_id))


@bp.post("/v1/admin/apps")
@require(scopes.ADMIN)
@body(AppIn)
def create_app(body):
    """Register a public patient app."""
    return AppOut().dump(clients.create_app_client(**body)), 201


@bp.get("/v1/org")
@require(*scopes.ORG_SCOPES, scopes.ADMIN)
def my_org():
    """Return the calling organisation's profile."""
    return OrgOut().dump(current_org())
