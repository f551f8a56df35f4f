"""The event feed (organisations)."""

from __future__ import annotations

from flask import Blueprint

from consent_api.webhooks import feed
from consent_api.webhooks.schemas import FeedPageOut, FeedQuery
from server import scopes
from server.db import utcnow
from server.guard import acting_org_id, require
from server.http import output, query

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
    )
