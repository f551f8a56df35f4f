"""The event feed and webhook endpoints (organisations), and the operator's view of them."""

from __future__ import annotations

import uuid
from datetime import timedelta

from flask import Blueprint, current_app, request

from consent_api.orgs.current import current_org
from consent_api.webhooks import endpoints, feed
from consent_api.webhooks.schemas import (
    AdminEndpointListOut,
    AdminEndpointOut,
    AdminEndpointQuery,
    DeliveryListQuery,
    DeliveryOut,
    DeliveryPageOut,
    EndpointIn,
    EndpointListOut,
    EndpointOut,
    EndpointPatch,
    EndpointWithSecretOut,
    FeedPageOut,
    FeedQuery,
)
from server import scopes
from server.db import utcnow
from server.guard import acting_org_id, require
from server.http import body, output, query

bp = Blueprint("webhooks", __name__)


@bp.get("/v1/events")
@require(scopes.EVENTS_READ)
@output(FeedPageOut)
@query(FeedQuery)
def list_events(query):
    """The organisation's events numbered after `after`, oldest first."""
    return feed.page(
        acting_org_id(),
        after=query["after"],
        limit=query["limit"],
        types=query["types"],
        now=utcnow(),
        reading=request.method == "GET",
    )


def _allow_local() -> bool:
    return current_app.config["WEBHOOK_ALLOW_LOCAL"]


@bp.post("/v1/org/webhooks")
@require(scopes.WEBHOOK_MANAGE)
@output(EndpointWithSecretOut, status=201)
@body(EndpointIn)
def create_endpoint(body):
    """Register an endpoint; its signing secret is in this answer only."""
    return endpoints.create(current_org(), body, now=utcnow(), allow_local=_allow_local())


@bp.get("/v1/org/webhooks")
@require(scopes.WEBHOOK_MANAGE)
@output(EndpointListOut)
def list_endpoints():
    """The organisation's endpoints."""
    return {"items": endpoints.list_for(current_org())}


@bp.get("/v1/org/webhooks/<uuid:endpoint_id>")
@require(scopes.WEBHOOK_MANAGE)
@output(EndpointOut)
def get_endpoint(endpoint_id: uuid.UUID):
    """One of the organisation's endpoints."""
    return endpoints.get_for(current_org(), endpoint_id)


@bp.patch("/v1/org/webhooks/<uuid:endpoint_id>")
@require(scopes.WEBHOOK_MANAGE)
@output(EndpointOut)
@body(EndpointPatch)
def change_endpoint(body, endpoint_id: uuid.UUID):
    """Change an endpoint, or disable and enable it."""
    return endpoints.change(
        current_org(), endpoint_id, body, now=utcnow(), allow_local=_allow_local()
    )


@bp.delete("/v1/org/webhooks/<uuid:endpoint_id>")
@require(scopes.WEBHOOK_MANAGE)
def remove_endpoint(endpoint_id: uuid.UUID):
    """Remove an endpoint and its delivery history."""
    endpoints.remove(current_org(), endpoint_id)
    return "", 204


@bp.post("/v1/org/webhooks/<uuid:endpoint_id>/rotate-secret")
@require(scopes.WEBHOOK_MANAGE)
@output(EndpointWithSecretOut)
def rotate_secret(endpoint_id: uuid.UUID):
    """A new signing secret (shown once); the old one signs too for the grace period."""
    grace = timedelta(hours=current_app.config["WEBHOOK_SECRET_GRACE_HOURS"])
    return endpoints.rotate(current_org(), endpoint_id, now=utcnow(), grace=grace)


@bp.get("/v1/org/webhooks/<uuid:endpoint_id>/deliveries")
@require(scopes.WEBHOOK_MANAGE)
@output(DeliveryPageOut)
@query(DeliveryListQuery)
def list_deliveries(query, endpoint_id: uuid.UUID):
    """An endpoint's deliveries, newest first."""
    return endpoints.deliveries_of(current_org(), endpoint_id, query)


@bp.post("/v1/org/webhooks/<uuid:endpoint_id>/deliveries/<uuid:delivery_id>/retry")
@require(scopes.WEBHOOK_MANAGE)
@output(DeliveryOut, status=202)
def retry_delivery(endpoint_id: uuid.UUID, delivery_id: uuid.UUID):
    """Send a delivery again."""
    return endpoints.retry(current_org(), endpoint_id, delivery_id, now=utcnow())


@bp.get("/v1/admin/webhooks")
@require(scopes.ADMIN)
@output(AdminEndpointListOut)
@query(AdminEndpointQuery)
def admin_list_endpoints(query):
    """Every organisation's endpoints."""
    return {"items": endpoints.list_all(query)}


@bp.post("/v1/admin/webhooks/<uuid:endpoint_id>/disable")
@require(scopes.ADMIN)
@output(AdminEndpointOut)
def admin_disable_endpoint(endpoint_id: uuid.UUID):
    """Stop sending to an endpoint (its organisation is told and cannot enable it)."""
    return endpoints.operator_disable(endpoint_id, now=utcnow())


@bp.post("/v1/admin/webhooks/<uuid:endpoint_id>/enable")
@require(scopes.ADMIN)
@output(AdminEndpointOut)
def admin_enable_endpoint(endpoint_id: uuid.UUID):
    """Send to an endpoint again."""
    return endpoints.operator_enable(endpoint_id, now=utcnow())
