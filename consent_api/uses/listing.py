"""An organisation's own data-use reports, read back: newest recorded first, filtered."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Select, select

from consent_api.links import naming, refs
from consent_api.orgs.values import Org
from consent_api.uses.models import DataUse
from server import pagination
from server.db import db


def _filtered(org: Org, query: dict[str, Any]) -> Select:
    statement = select(DataUse).where(DataUse.org_id == org.id)
    if "patient_ref" in query:
        named = naming.Named(query["patient_ref"], None)
        statement = statement.where(DataUse.patient_id == naming.resolve(org.id, named))
    for name in ("purpose", "outcome"):
        if name in query:
            statement = statement.where(getattr(DataUse, name) == query[name])
    if "since" in query:
        statement = statement.where(DataUse.created_at >= query["since"])
    if "until" in query:
        statement = statement.where(DataUse.created_at < query["until"])
    return statement


def _matcher(org: Org, query: dict[str, Any]) -> Callable[[DataUse], bool]:
    """The filters on JSON arrays, matched in Python the same way on every database: a
    category reported, a consent relied on (named by the id the organisation was shown)."""
    category = query.get("data_category")
    consent_id = query.get("consent_id")
    relied_on = str(refs.consent_id_shown(org.id, consent_id)) if consent_id else None

    def keep(use: DataUse) -> bool:
        if category and category not in use.data_categories:
            return False
        return relied_on is None or any(c["consent_id"] == relied_on for c in use.consents)

    return keep


def for_org(org: Org, query: dict[str, Any]) -> pagination.Page:
    """A page of the uses (and refused attempts) `org` reported, newest recorded first."""
    return pagination.scan(
        db.session,
        _filtered(org, query),
        order_column=DataUse.created_at,
        id_column=DataUse.id,
        order_attr="created_at",
        cursor=query.get("cursor"),
        limit=query["limit"],
        keep=_matcher(org, query),
        descending=True,
    )
