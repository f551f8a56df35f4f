"""Deliver events to webhook endpoints: queue one delivery per event and endpoint as events
are published, send each endpoint's in the order of the organisation's sequence, and keep
what became of each attempt.

An endpoint is leased as a whole (a conditional UPDATE, as the outbox leases its rows), so
two workers never send to one endpoint at once and its events arrive in order; a worker
that dies leaves its lease to run out, and what it sent but did not record is sent again,
with the same `webhook-id`. When an attempt fails the endpoint waits, backing off
exponentially with jitter; an endpoint whose oldest undelivered event has failed for
WEBHOOK_RETRY_HOURS is disabled, its undelivered events kept as failed (dead letters, to
be sent again one by one), and its organisation is told. These functions flush only: the
job commits the lease before sending and the outcomes after (server/jobs.py).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, exists, func, insert, or_, select, update

from consent_api.events import journal, kinds
from consent_api.events.models import OrgEvent
from consent_api.orgs.models import Organisation
from consent_api.webhooks.models import WebhookDelivery, WebhookEndpoint
from consent_api.webhooks.secrets import unseal
from consent_api.webhooks.sending import Outcome, WebhookSender
from notifications import dispatch
from server.db import db, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Item:
    """One delivery to send: the event's id (the `webhook-id`) and its body."""

    delivery_id: uuid.UUID
    org_id: uuid.UUID
    seq: int
    message_id: str
    body: str


@dataclass(frozen=True)
class Batch:
    """An endpoint's next deliveries, in order, with the secrets that sign them."""

    owner: uuid.UUID  # the lease it is sent under
    endpoint_id: uuid.UUID
    url: str
    secrets: list[str]
    items: list[Item]
    lease_until: float  # time.monotonic() by which the sending must stop


@dataclass(frozen=True)
class Sent:
    """One attempt made: the item, its outcome, and when."""

    item: Item
    outcome: Outcome
    at: datetime


def queue(events: Sequence[dict], *, now: datetime) -> int:
    """Queue a delivery of each event just published to each endpoint of its organisation
    that wants its type, whatever its state: a disabled endpoint's wait until it is enabled,
    and a suspended organisation's until it is reinstated (see `leased`)."""
    org_ids = {event["org_id"] for event in events}
    endpoints = db.session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.org_id, WebhookEndpoint.event_types).where(
            WebhookEndpoint.org_id.in_(org_ids)
        )
    ).all()
    by_org: dict[uuid.UUID, list] = {}
    for endpoint in endpoints:
        by_org.setdefault(endpoint.org_id, []).append(endpoint)
    rows = [
        {
            "org_id": event["org_id"],
            "id": uuid.uuid4(),
            "seq": event["seq"],
            "endpoint_id": endpoint.id,
            "status": "pending",
            "attempts": 0,
            "created_at": now,
        }
        for event in events
        for endpoint in by_org.get(event["org_id"], ())
        if not endpoint.event_types or event["type"] in endpoint.event_types
    ]
    if rows:
        db.session.execute(insert(WebhookDelivery.__table__), rows)
    return len(rows)


def _sendable():
    """Deliveries that may go now: any, while the organisation is active; while it is
    suspended, only the news of its own suspension (and reinstatement)."""
    return or_(Organisation.status == "active", OrgEvent.type.like("org.%"))


def _has_work():
    return (
        exists()
        .where(
            WebhookDelivery.endpoint_id == WebhookEndpoint.id,
            WebhookDelivery.status == "pending",
            OrgEvent.org_id == WebhookDelivery.org_id,
            OrgEvent.seq == WebhookDelivery.seq,
            _sendable(),
        )
        .correlate(WebhookEndpoint, Organisation)
    )


def _free(now: datetime):
    return or_(WebhookEndpoint.lease_until.is_(None), WebhookEndpoint.lease_until < now)


def claim(*, now: datetime, lease: timedelta, limit: int = 16) -> uuid.UUID:
    """Lease up to `limit` endpoints that are due and have something to send."""
    owner = uuid.uuid4()
    candidates = (
        select(WebhookEndpoint.id)
        .join(Organisation, Organisation.id == WebhookEndpoint.org_id)
        .where(
            WebhookEndpoint.status == "active",
            WebhookEndpoint.next_attempt_at <= now,
            _free(now),
            _has_work(),
        )
        .order_by(WebhookEndpoint.next_attempt_at)
        .limit(limit)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True, of=WebhookEndpoint)
    ids = db.session.scalars(candidates).all()
    if ids:
        db.session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id.in_(ids), _free(now))  # nobody took it meanwhile
            .values(lease_owner=owner, lease_until=now + lease)
            .execution_options(synchronize_session=False)
        )
    db.session.flush()
    return owner


def leased(owner: uuid.UUID, *, now: datetime, lease: timedelta, per_endpoint: int) -> list[Batch]:
    """The next deliveries of each endpoint an owner holds, oldest event first."""
    endpoints = db.session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.lease_owner == owner)
    ).all()
    stop_by = time.monotonic() + lease.total_seconds() * 0.8  # leave the lease time to record
    batches = []
    for endpoint in endpoints:
        rows = db.session.execute(
            select(
                WebhookDelivery.id,
                WebhookDelivery.org_id,
                WebhookDelivery.seq,
                OrgEvent.id.label("event_id"),
                OrgEvent.payload,
            )
            .join(
                OrgEvent,
                and_(
                    OrgEvent.org_id == WebhookDelivery.org_id, OrgEvent.seq == WebhookDelivery.seq
                ),
            )
            .join(Organisation, Organisation.id == WebhookDelivery.org_id)
            .where(
                WebhookDelivery.endpoint_id == endpoint.id,
                WebhookDelivery.status == "pending",
                _sendable(),  # suspended: its own news only; the rest waits
            )
            .order_by(WebhookDelivery.seq)
            .limit(per_endpoint)
        ).all()
        secrets = [unseal(endpoint.secret_sealed)]
        if (
            endpoint.previous_secret_sealed
            and endpoint.previous_secret_until
            and endpoint.previous_secret_until > now
        ):
            secrets.append(unseal(endpoint.previous_secret_sealed))
        batches.append(
            Batch(
                owner=owner,
                endpoint_id=endpoint.id,
                url=endpoint.url,
                secrets=secrets,
                items=[
                    Item(
                        row.id,
                        row.org_id,
                        row.seq,
                        str(row.event_id),
                        json.dumps(row.payload, separators=(",", ":"), ensure_ascii=False),
                    )
                    for row in rows
                ],
                lease_until=stop_by,
            )
        )
    return batches


def send(sender: WebhookSender, batch: Batch) -> list[Sent]:
    """Send a batch in order, stopping at the first failure (its successors wait behind it)
    or when the lease would run out before another attempt could time out (the first is
    always made: the configuration keeps the lease above two timeouts)."""
    sent: list[Sent] = []
    for item in batch.items:
        if sent and time.monotonic() + sender.timeout > batch.lease_until:
            break
        at = utcnow()
        try:
            outcome = sender.send(
                batch.url, message_id=item.message_id, body=item.body, secrets=batch.secrets, at=at
            )
        except Exception as error:  # never one endpoint's failure the whole run's
            log.exception("sending to endpoint %s failed", batch.endpoint_id)
            outcome = Outcome(False, error=f"could not deliver ({type(error).__name__})")
        sent.append(Sent(item, outcome, at))
        if not outcome.delivered:
            break
    return sent


_RECORD = (
    update(WebhookDelivery.__table__)
    .where(
        WebhookDelivery.__table__.c.org_id == bindparam("b_org_id"),
        WebhookDelivery.__table__.c.id == bindparam("b_id"),
    )
    .values(
        status=bindparam("b_status"),
        attempts=WebhookDelivery.__table__.c.attempts + 1,
        first_attempt_at=func.coalesce(
            WebhookDelivery.__table__.c.first_attempt_at, bindparam("b_at")
        ),
        last_attempt_at=bindparam("b_at"),
        last_status_code=bindparam("b_code"),
        last_error=bindparam("b_error"),
        response_excerpt=bindparam("b_excerpt"),
        delivered_at=bindparam("b_delivered_at"),
    )
)
_RECEIVED = (
    update(OrgEvent.__table__)
    .where(
        OrgEvent.__table__.c.org_id == bindparam("b_org_id"),
        OrgEvent.__table__.c.seq == bindparam("b_seq"),
        OrgEvent.__table__.c.received_at.is_(None),
    )
    .values(received_at=bindparam("b_at"), received_via="webhook")
)


MAX_DELAY = timedelta(hours=1)


def record(
    batch: Batch,
    sent: Sequence[Sent],
    *,
    now: datetime,
    retry_base: float,
    give_up_after: timedelta,
) -> dict[str, int]:
    """Keep what became of each attempt, and decide when the endpoint is tried again (or
    that it is given up). Returns counts by outcome. Nothing is kept if the lease was lost
    (it ran out and another worker took the endpoint): that worker's record stands, and
    what was sent here is sent again, with the same ids."""
    endpoint = db.session.scalar(
        select(WebhookEndpoint).where(WebhookEndpoint.id == batch.endpoint_id).with_for_update()
    )
    if endpoint is None or endpoint.lease_owner != batch.owner:
        log.warning("lease on endpoint %s lost while sending; not recorded", batch.endpoint_id)
        return {"lease_lost": len(sent)}
    if sent:
        db.session.execute(
            _RECORD,
            [
                {
                    "b_org_id": one.item.org_id,
                    "b_id": one.item.delivery_id,
                    "b_status": "delivered" if one.outcome.delivered else "pending",
                    "b_at": one.at,
                    "b_code": one.outcome.status_code,
                    "b_error": one.outcome.error,
                    "b_excerpt": one.outcome.excerpt or None,
                    "b_delivered_at": one.at if one.outcome.delivered else None,
                }
                for one in sent
            ],
        )
        received = [one for one in sent if one.outcome.delivered]
        if received:
            db.session.execute(
                _RECEIVED,
                [
                    {"b_org_id": one.item.org_id, "b_seq": one.item.seq, "b_at": one.at}
                    for one in received
                ],
            )
    endpoint.lease_owner, endpoint.lease_until = None, None
    last = sent[-1] if sent else None
    if last is None or last.outcome.delivered:
        endpoint.failures, endpoint.failing_since, endpoint.next_attempt_at = 0, None, now
    else:
        endpoint.failures += 1
        endpoint.failing_since = endpoint.failing_since or last.at
        first = db.session.scalar(
            select(WebhookDelivery.first_attempt_at).where(
                WebhookDelivery.org_id == last.item.org_id,
                WebhookDelivery.id == last.item.delivery_id,
            )
        )
        if first is not None and first <= now - give_up_after:
            give_up(endpoint, now=now)
        else:
            endpoint.next_attempt_at = now + dispatch.backoff(
                endpoint.failures - 1, base=timedelta(seconds=retry_base), cap=MAX_DELAY
            )
    db.session.flush()
    delivered = sum(1 for one in sent if one.outcome.delivered)
    return {"delivered": delivered, "failed": len(sent) - delivered}


def give_up(endpoint: WebhookEndpoint, *, now: datetime) -> None:
    """Disable an endpoint that keeps failing: its undelivered events become dead letters,
    and its organisation is told (in its feed, and at its other endpoints)."""
    disable(endpoint, by="failing", now=now)
    db.session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.status == "pending")
        .values(status="failed")
        .execution_options(synchronize_session=False)
    )


def disable(endpoint: WebhookEndpoint, *, by: str, now: datetime) -> None:
    """Stop sending to an endpoint; anyone but the organisation itself tells it so."""
    endpoint.status, endpoint.disabled_by, endpoint.disabled_at = "disabled", by, now
    endpoint.lease_owner, endpoint.lease_until, endpoint.updated_at = None, None, now
    if by != "organisation":
        journal.record(
            kinds.ENDPOINT_DISABLED,
            now=now,
            org_ids=[endpoint.org_id],
            data={"endpoint_id": str(endpoint.id), "reason": by},
        )
    db.session.flush()
