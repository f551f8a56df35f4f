"""Drain the outbox: claim due rows under a lease, send them, record each outcome.

Claiming is a conditional UPDATE (only rows still due are taken, by a lease owner id), so any
number of workers can drain at once without sending a row twice; a worker that dies leaves its
rows leased, and they are due again once the lease runs out. These functions flush only: the
job commits the claim before sending and the outcomes after (server/jobs.py).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update

from notifications.models import Device, Notification, OutboxMessage
from notifications.push import RETRY, SENT, UNREGISTERED, PushMessage, PushResult
from server.db import db

LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 8
BASE_DELAY = timedelta(seconds=2)
MAX_DELAY = timedelta(minutes=30)


def _due(now: datetime):
    return or_(
        and_(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now),
        and_(OutboxMessage.status == "sending", OutboxMessage.lease_until < now),
    )


def claim(*, now: datetime, limit: int = 500, lease: timedelta = LEASE) -> uuid.UUID:
    """Lease up to `limit` due rows to a new owner id and return it."""
    owner = uuid.uuid4()
    candidates = select(OutboxMessage.id).where(_due(now)).order_by(OutboxMessage.next_attempt_at)
    if db.session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    ids = db.session.scalars(candidates.limit(limit)).all()
    if ids:
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), _due(now))  # still due: nobody took it meanwhile
            .values(status="sending", lease_owner=owner, lease_until=now + lease)
            .execution_options(synchronize_session=False)
        )
    db.session.flush()
    return owner


def leased(owner: uuid.UUID, *, now: datetime) -> list[tuple[OutboxMessage, PushMessage]]:
    """Return the rows an owner holds, each with the push message to send. A row whose device
    was removed, or has moved to another account since the notice was queued, is dropped
    here: a notice only ever reaches its own patient's active devices."""
    rows = db.session.execute(
        select(OutboxMessage, Notification, Device)
        .join(Notification, Notification.id == OutboxMessage.notification_id)
        .join(Device, Device.id == OutboxMessage.device_id)
        .where(OutboxMessage.lease_owner == owner, OutboxMessage.status == "sending")
    ).all()
    stale = [
        row
        for row, notice, device in rows
        if not device.active or device.patient_id != notice.patient_id
    ]
    for row in stale:
        row.status, row.last_error, row.lease_owner, row.lease_until = (
            "dropped",
            "device removed or moved to another account",
            None,
            None,
        )
    if stale:
        db.session.flush()
        rows = [r for r in rows if r[0] not in stale]
    return [
        (
            row,
            PushMessage(
                token=device.token,
                title=notice.title,
                body=notice.body,
                data={
                    **{k: str(v) for k, v in (notice.data or {}).items()},
                    "type": notice.type,
                    "notification_id": str(notice.id),
                },
                high_priority=notice.high_priority,
                collapse_id=str(notice.id),
            ),
        )
        for row, notice, device in rows
    ]


def by_ids(ids: Sequence[uuid.UUID]) -> list[OutboxMessage]:
    """Load outbox rows again, in the order given (after sending, outside a transaction)."""
    found = {
        row.id: row
        for row in db.session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids)))
    }
    return [found[row_id] for row_id in ids]


def backoff(
    attempts: int,
    *,
    base: timedelta = BASE_DELAY,
    cap: timedelta = MAX_DELAY,
    rng: random.Random | None = None,
) -> timedelta:
    """Exponential backoff with jitter: between half and all of base * 2**attempts, at most
    `cap` (pushes here; webhooks, whose base is a setting, too)."""
    ceiling = min(cap, base * (2**attempts))
    return ceiling * (rng or random).uniform(0.5, 1.0)


def record(
    rows: Sequence[OutboxMessage],
    results: Sequence[PushResult],
    *,
    now: datetime,
    max_attempts: int = MAX_ATTEMPTS,
) -> dict[str, int]:
    """Store what became of each sent row; returns counts by outcome."""
    counts: dict[str, int] = {}
    for row, result in zip(rows, results, strict=True):
        counts[result.outcome] = counts.get(result.outcome, 0) + 1
        row.lease_owner, row.lease_until = None, None
        row.attempts += 1
        if result.outcome == SENT:
            row.status, row.sent_at, row.last_error = "sent", now, None
        elif result.outcome == UNREGISTERED:
            row.status, row.last_error = "dropped", result.detail
            device = db.session.get(Device, row.device_id)
            device.active, device.deactivated_at = False, now
        elif result.outcome == RETRY and row.attempts < max_attempts:
            row.status, row.last_error = "pending", result.detail
            row.next_attempt_at = now + backoff(row.attempts)
        else:
            row.status, row.last_error = "dead", result.detail
    db.session.flush()
    return counts


def stats() -> dict[str, int]:
    """Count outbox rows by status (the operator's view)."""
    rows = db.session.execute(
        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    ).all()
    return dict(rows)


def retry_dead(*, now: datetime) -> int:
    """Give every dead-lettered row a fresh start; returns how many."""
    return db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.status == "dead")
        .values(status="pending", attempts=0, next_attempt_at=now, last_error=None)
        .execution_options(synchronize_session=False)
    ).rowcount
