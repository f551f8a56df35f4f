"""The operator registers organisations (credentials shown once) and patient apps."""

from __future__ import annotations

from flask import Blueprint

from consent_api.registration import service
from consent_api.registration.schemas import AppIn, AppOut, OrgCreatedOut, OrgIn
from server import scopes
from server.guard import acting_org_id, require
from server.http import body, output

bp = Blueprint("registration", __name__)


@bp.post("/v1/admin/orgs")
@require(scopes.ADMIN)
@output(OrgCreatedOut, status=201)
@body(OrgIn)
def create_org(body):
    """Register an organisation and its client credentials."""
    return service.register_org(**body, by=acting_org_id())


@bp.post("/v1/admin/apps")
@require(scopes.ADMIN)
@output(AppOut, status=201)
@body(AppIn)
def create_app(body):
    """Register a public patient app."""
    return service.register_app(**body)
