"""The event feed: an organisation's events after a sequence number, oldest first. Webhooks
are the nudge, the feed is the truth: a mirror that was away reads on from its last number
and misses nothing, or learns that what it missed is no longer kept (410)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import func, select, update

from consent_api.events.models import OrgEvent, OrgEventSequence
from server.db import db
from server.errors import Problem, ValidationFailed


class EventsExpired(Problem):
    """The events after the cursor are older than the feed keeps: resynchronise."""

    status = 410
    code = "events_expired"


class FeedPage(NamedTuple):
    """Events after a number, and the number to ask after next."""

    items: list[dict[str, Any]]
    next_after: int
    has_more: bool


def _check_cursor(org_id: uuid.UUID, after: int) -> None:
    """A cursor must name an event given out (or 0), and one whose successors are kept."""
    last = (
        db.session.scalar(
            select(OrgEventSequence.last_seq).where(OrgEventSequence.org_id == org_id)
        )
        or 0
    )
    if after > last:
        raise ValidationFailed(
            errors={"after": [f"No event has this number yet; the last is {last}."]}
        )
    oldest = db.session.scalar(select(func.min(OrgEvent.seq)).where(OrgEvent.org_id == org_id))
    kept_from = last + 1 if oldest is None else oldest
    if after < kept_from - 1:
        raise EventsExpired(
            f"Events after {after} are no longer kept; read the consents you hold again "
            f"(GET /v1/consents) and follow the feed from after={kept_from - 1}.",
            oldest_sequence=kept_from,
        )


def page(
    org_id: uuid.UUID,
    *,
    after: int,
    limit: int,
    types: Sequence[str],
    now: datetime,
    reading: bool = True,
) -> FeedPage:
    """Up to `limit` of the organisation's events numbered after `after` (of `types`, if
    given). Reading them counts as receiving them (what the patient is shown); a look that
    reads nothing (`reading=False`: a HEAD request) does not."""
    _check_cursor(org_id, after)
    statement = select(OrgEvent.seq, OrgEvent.payload, OrgEvent.received_at).where(
        OrgEvent.org_id == org_id, OrgEvent.seq > after
    )
    if types:
        statement = statement.where(OrgEvent.type.in_(types))
    rows = db.session.execute(statement.order_by(OrgEvent.seq).limit(limit + 1)).all()
    rows, has_more = rows[:limit], len(rows) > limit
    unseen = [row.seq for row in rows if row.received_at is None]
    if unseen and reading:
        db.session.execute(
            update(OrgEvent)
            .where(
                OrgEvent.org_id == org_id, OrgEvent.seq.in_(unseen), OrgEvent.received_at.is_(None)
            )
            .values(received_at=now, received_via="feed")
            .execution_options(synchronize_session=False)
        )
    return FeedPage(
        items=[row.payload for row in rows],
        next_after=rows[-1].seq if rows else after,
        has_more=has_more,
    )
