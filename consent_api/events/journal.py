"""Write an event to the journal in the caller's transaction (flush only, never commit): the
change and the news of it land together or not at all."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import insert

from consent_api.events.models import JournalEntry
from server.db import core


def record(
    type: str,
    *,
    now: datetime,
    org_ids: Iterable[uuid.UUID] = (),
    org_types: Iterable[str] = (),
    patient_id: uuid.UUID | None = None,
    consent_id: uuid.UUID | None = None,
    consent_version: int | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Journal one event for the organisations named and every organisation of the types
    named; `data` is JSON-ready and says what the event tells (rendered per organisation
    when published)."""
    core().execute(
        insert(JournalEntry.__table__),
        [
            {
                "type": type,
                "patient_id": patient_id,
                "consent_id": consent_id,
                "consent_version": consent_version,
                "org_ids": sorted({str(org_id) for org_id in org_ids}),
                "org_types": sorted(set(org_types)),
                "data": data or {},
                "occurred_at": now,
            }
        ],
    )
