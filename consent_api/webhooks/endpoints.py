"""Organisations' webhook endpoints: register (the signing secret shown once), change,
rotate the secret (the old one signs too for a grace period), remove; their deliveries,
and sending one again. The operator lists every endpoint and disables or enables one.
Services flush only."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from consent_api.orgs.models import Organisation
from consent_api.webhooks import deliveries
from consent_api.webhooks.addresses import url_problem
from consent_api.webhooks.models import WebhookDelivery, WebhookEndpoint
from consent_api.webhooks.secrets import new_secret, seal
from server import pagination
from server.db import db
from server.errors import Conflict, NotFound, ValidationFailed

MAX_ENDPOINTS = 10


class TooManyEndpoints(Conflict):
    """An organisation has as many endpoints as it may."""

    code = "too_many_endpoints"


class DisabledByOperator(Conflict):
    """The operator disabled this endpoint: only the operator enables it again."""

    code = "disabled_by_operator"


class EndpointDisabled(Conflict):
    """Nothing is sent to a disabled endpoint: enable it first."""

    code = "endpoint_disabled"


@dataclass(frozen=True)
class WithSecret:
    """An endpoint and its new signing secret, shown this once (read like the endpoint)."""

    endpoint: WebhookEndpoint
    secret: str

    def __getattr__(self, name: str) -> Any:
        return getattr(self.endpoint, name)


def _checked_url(url: str, *, allow_local: bool) -> str:
    problem = url_problem(url, allow_local=allow_local)
    if problem:
        raise ValidationFailed(errors={"url": [problem]})
    return url


def create(
    org: Organisation, body: dict[str, Any], *, now: datetime, allow_local: bool
) -> WithSecret:
    """Register an endpoint; it receives the events published from now on."""
    url = _checked_url(body["url"], allow_local=allow_local)
    # The organisation's row, locked: concurrent registrations count one after another.
    db.session.execute(select(Organisation.id).where(Organisation.id == org.id).with_for_update())
    count = db.session.scalar(
        select(func.count()).select_from(WebhookEndpoint).where(WebhookEndpoint.org_id == org.id)
    )
    if count >= MAX_ENDPOINTS:
        raise TooManyEndpoints(f"An organisation may have {MAX_ENDPOINTS} webhook endpoints.")
    secret = new_secret()
    endpoint = WebhookEndpoint(
        id=uuid.uuid4(),
        org_id=org.id,
        url=url,
        description=body["description"],
        event_types=body["event_types"],
        status="active",
        secret_sealed=seal(secret),
        failures=0,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )
    db.session.add(endpoint)
    db.session.flush()
    return WithSecret(endpoint, secret)


def list_for(org: Organisation) -> list[WebhookEndpoint]:
    """The organisation's endpoints, oldest first."""
    return list(
        db.session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.org_id == org.id)
            .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
        )
    )


def get_for(org: Organisation, endpoint_id: uuid.UUID, *, lock: bool = False) -> WebhookEndpoint:
    """One of the organisation's endpoints (another's is 404)."""
    statement = select(WebhookEndpoint).where(
        WebhookEndpoint.id == endpoint_id, WebhookEndpoint.org_id == org.id
    )
    endpoint = db.session.scalar(statement.with_for_update() if lock else statement)
    if endpoint is None:
        raise NotFound("No webhook endpoint with this id.")
    return endpoint


def _enable(endpoint: WebhookEndpoint, *, now: datetime) -> None:
    endpoint.status, endpoint.disabled_by, endpoint.disabled_at = "active", None, None
    endpoint.failures, endpoint.failing_since, endpoint.next_attempt_at = 0, None, now


def change(
    org: Organisation,
    endpoint_id: uuid.UUID,
    changes: dict[str, Any],
    *,
    now: datetime,
    allow_local: bool,
) -> WebhookEndpoint:
    """Change an endpoint's URL, types or description, or disable and enable it."""
    endpoint = get_for(org, endpoint_id, lock=True)
    if not changes:
        raise ValidationFailed(errors={"_schema": ["Send at least one field to change."]})
    if "url" in changes:
        endpoint.url = _checked_url(changes["url"], allow_local=allow_local)
    if "event_types" in changes:
        endpoint.event_types = changes["event_types"]
    if "description" in changes:
        endpoint.description = changes["description"]
    enabled = changes.get("enabled")
    if enabled is True and endpoint.status == "disabled":
        if endpoint.disabled_by == "operator":
            raise DisabledByOperator("The operator disabled this endpoint; ask them to enable it.")
        _enable(endpoint, now=now)
    elif enabled is False and endpoint.status == "active":
        deliveries.disable(endpoint, by="organisation", now=now)
    endpoint.updated_at = now
    db.session.flush()
    return endpoint


def remove(org: Organisation, endpoint_id: uuid.UUID) -> None:
    """Remove an endpoint and its delivery history (the events stay in the feed)."""
    endpoint = get_for(org, endpoint_id, lock=True)
    db.session.execute(
        WebhookDelivery.__table__.delete().where(WebhookDelivery.endpoint_id == endpoint.id)
    )
    db.session.delete(endpoint)
    db.session.flush()


def rotate(
    org: Organisation, endpoint_id: uuid.UUID, *, now: datetime, grace: timedelta
) -> WithSecret:
    """Give the endpoint a new secret; the current one keeps signing too until `grace`
    has passed (each webhook then carries both signatures)."""
    endpoint = get_for(org, endpoint_id, lock=True)
    secret = new_secret()
    endpoint.previous_secret_sealed = endpoint.secret_sealed
    endpoint.previous_secret_until = now + grace
    endpoint.secret_sealed = seal(secret)
    endpoint.updated_at = now
    db.session.flush()
    return WithSecret(endpoint, secret)


def deliveries_of(
    org: Organisation, endpoint_id: uuid.UUID, query: dict[str, Any]
) -> pagination.Page:
    """A page of an endpoint's deliveries, latest event first."""
    endpoint = get_for(org, endpoint_id)
    statement = select(WebhookDelivery).where(
        WebhookDelivery.org_id == org.id, WebhookDelivery.endpoint_id == endpoint.id
    )
    if query.get("status"):
        statement = statement.where(WebhookDelivery.status == query["status"])
    rows = db.session.scalars(
        pagination.page(
            statement.options(selectinload(WebhookDelivery.event)),
            order_column=WebhookDelivery.seq,
            id_column=WebhookDelivery.id,
            cursor=query.get("cursor"),
            limit=query["limit"],
            descending=True,
        )
    ).all()
    return pagination.envelope(rows, limit=query["limit"], order_attr="seq")


def retry(
    org: Organisation, endpoint_id: uuid.UUID, delivery_id: uuid.UUID, *, now: datetime
) -> WebhookDelivery:
    """Send a delivery again (a dead letter, or one delivered that the receiver lost): it
    goes out in its place in the endpoint's order, with its own `webhook-id`."""
    endpoint = get_for(org, endpoint_id, lock=True)
    if endpoint.status != "active":
        raise EndpointDisabled("This endpoint is disabled; enable it before sending again.")
    delivery = db.session.scalar(
        select(WebhookDelivery)
        .where(
            WebhookDelivery.org_id == org.id,
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.endpoint_id == endpoint.id,
        )
        .with_for_update()
    )
    if delivery is None:
        raise NotFound("No delivery with this id at this endpoint.")
    delivery.status, delivery.first_attempt_at, delivery.delivered_at = "pending", None, None
    endpoint.next_attempt_at = min(endpoint.next_attempt_at, now)
    db.session.flush()
    return delivery


# --- the operator ---------------------------------------------------------------------


def list_all(query: dict[str, Any]) -> list[WebhookEndpoint]:
    """Every endpoint (of one organisation, or with one status), oldest first."""
    statement = select(WebhookEndpoint).order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
    if query.get("org_id"):
        statement = statement.where(WebhookEndpoint.org_id == query["org_id"])
    if query.get("status"):
        statement = statement.where(WebhookEndpoint.status == query["status"])
    return list(db.session.scalars(statement))


def _any(endpoint_id: uuid.UUID) -> WebhookEndpoint:
    endpoint = db.session.scalar(
        select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id).with_for_update()
    )
    if endpoint is None:
        raise NotFound("No webhook endpoint with this id.")
    return endpoint


def operator_disable(endpoint_id: uuid.UUID, *, now: datetime) -> WebhookEndpoint:
    """Stop sending to an endpoint (its organisation is told, and cannot enable it)."""
    endpoint = _any(endpoint_id)
    if endpoint.status == "active" or endpoint.disabled_by != "operator":
        deliveries.disable(endpoint, by="operator", now=now)
    return endpoint


def operator_enable(endpoint_id: uuid.UUID, *, now: datetime) -> WebhookEndpoint:
    """Send to an endpoint again, whoever disabled it."""
    endpoint = _any(endpoint_id)
    if endpoint.status == "disabled":
        _enable(endpoint, now=now)
        endpoint.updated_at = now
        db.session.flush()
    return endpoint
