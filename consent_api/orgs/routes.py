"""The operator's view of organisations (list, suspend, resume) and an organisation's own."""

from __future__ import annotations

import uuid

from flask import Blueprint

from consent_api.orgs import service
from consent_api.orgs.current import current_org
from consent_api.orgs.schemas import (
    DirectoryPageOut,
    DirectoryQuery,
    OrgListOut,
    OrgOut,
    ProfileIn,
    SuspendIn,
)
from server import scopes
from server.guard import acting_org_id, require
from server.http import body, output, query

bp = Blueprint("orgs", __name__)


@bp.get("/v1/admin/orgs")
@require(scopes.ADMIN)
@output(OrgListOut)
def list_orgs():
    """List every organisation."""
    return {"items": service.list_all()}


@bp.get("/v1/admin/orgs/<uuid:org_id>")
@require(scopes.ADMIN)
@output(OrgOut)
def get_org(org_id: uuid.UUID):
    """Show one organisation."""
    return service.get(org_id)


@bp.post("/v1/admin/orgs/<uuid:org_id>/suspend")
@require(scopes.ADMIN)
@output(OrgOut)
@body(SuspendIn, optional=True)
def suspend_org(org_id: uuid.UUID, body):
    """Suspend an organisation (not one's own), saying why; its tokens stop working at once."""
    return service.suspend(org_id, by=acting_org_id(), reason=body.get("reason"))


@bp.post("/v1/admin/orgs/<uuid:org_id>/resume")
@require(scopes.ADMIN)
@output(OrgOut)
def resume_org(org_id: uuid.UUID):
    """Lift an organisation's suspension."""
    return service.resume(org_id, by=acting_org_id())


@bp.get("/v1/org")
@require(*scopes.ORG_SCOPES, scopes.ADMIN)
@output(OrgOut)
def my_org():
    """Return the calling organisation's profile."""
    return current_org()


@bp.patch("/v1/org")
@require(scopes.ORG_PROFILE)
@output(OrgOut)
@body(ProfileIn)
def edit_my_profile(body):
    """Change the calling organisation's public profile (what the directory shows)."""
    return service.update_profile(current_org(), body)


@bp.get("/v1/orgs")
@require(scopes.PATIENT, *scopes.ORG_SCOPES, scopes.ADMIN)
@output(DirectoryPageOut)
@query(DirectoryQuery)
def directory(query):
    """The organisations a consent may name, with their public profiles."""
    return service.directory(query)
