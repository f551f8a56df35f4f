"""Organisations' names, looked up together (one query for a whole page or consent)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from consent_api.orgs.models import Organisation
from server.db import db


def org_names(ids: Iterable[Any]) -> dict[str, str]:
    """Return {str(org id): name} for the given ids (None and "" skipped), in one query."""
    wanted = {uuid.UUID(str(i)) for i in ids if i}
    if not wanted:
        return {}
    rows = db.session.execute(
        select(Organisation.id, Organisation.name).where(Organisation.id.in_(wanted))
    )
    return {str(org_id): name for org_id, name in rows}
