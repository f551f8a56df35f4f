"""Lists of consents: the patient's own, and those an organisation holds (for its mirror)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import InstrumentedAttribute, selectinload

from consent_api import catalog
from consent_api.consents.models import Consent
from consent_api.links import refs
from consent_api.orgs.models import Organisation
from consent_api.patients.models import Patient
from server import pagination
from server.db import db
from server.errors import NotFound


def granted_to(org: Organisation):
    """The consents that name `org`, by id or by its type."""
    return or_(Consent.grantee_org_id == org.id, Consent.grantee_org_type == org.type)


def _filtered(statement: Select, query: dict[str, Any], *, now: datetime) -> Select:
    status = query.get("status")
    not_yet_expired = or_(Consent.valid_until.is_(None), Consent.valid_until > now)
    if status == "active":
        statement = statement.where(Consent.status == "active", not_yet_expired)
    elif status == "expired":
        statement = statement.where(
            or_(
                Consent.status == "expired",
                (Consent.status == "active") & ~not_yet_expired,
            )
        )
    elif status:
        statement = statement.where(Consent.status == status)
    if query.get("org_id"):
        statement = statement.where(Consent.grantee_org_id == query["org_id"])
    return statement.options(selectinload(Consent.grantee_org))


def _matcher(query: dict[str, Any]) -> Callable[[Consent], bool]:
    """Return a predicate for the category and purpose filters.

    JSON arrays are matched in Python, the same way on SQLite and PostgreSQL; a category
    filter also finds grants of `all` that cover it (never a sensitive one).
    """
    category, purpose = query.get("data_category"), query.get("purpose")

    def keep(consent: Consent) -> bool:
        if category and not catalog.covers(frozenset(consent.data_categories), category):
            return False
        return not purpose or purpose in consent.purposes

    return keep


def _page(
    statement: Select, query: dict[str, Any], *, by: InstrumentedAttribute
) -> pagination.Page:
    return pagination.scan(
        db.session,
        statement,
        order_column=by,
        id_column=Consent.id,
        order_attr=by.key,
        cursor=query.get("cursor"),
        limit=query["limit"],
        keep=_matcher(query),
    )


def for_patient(patient: Patient, query: dict[str, Any], *, now: datetime) -> pagination.Page:
    """A page of the patient's consents, oldest first."""
    statement = _filtered(select(Consent).where(Consent.patient_id == patient.id), query, now=now)
    return _page(statement, query, by=Consent.created_at)


def for_org(org: Organisation, query: dict[str, Any], *, now: datetime) -> pagination.Page:
    """A page of consents granted to `org` (directly or via its type), ordered by last
    change so that `updated_since` plus the cursor keeps a mirror in sync, revocations included."""
    statement = _filtered(select(Consent).where(granted_to(org)), query, now=now)
    if query.get("updated_since"):
        statement = statement.where(Consent.updated_at >= query["updated_since"])
    return _page(statement, query, by=Consent.updated_at)


def one_for_org(org: Organisation, shown_id: uuid.UUID) -> Consent:
    """One consent granted to `org`, named by the id `org` was shown; 404 for any other id
    (another's, another type's, an internal id), as the listing would not show it either."""
    consent = db.session.scalar(
        select(Consent)
        .where(Consent.id == refs.consent_id_shown(org.id, shown_id), granted_to(org))
        .options(selectinload(Consent.grantee_org))
    )
    if consent is None:
        raise NotFound("No consent with this id.")
    return consent
