"""The consents an organisation holds, as that organisation may see them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select

from consent_api.consents import service
from consent_api.consents.models import Consent
from consent_api.orgs.models import Organisation
from server import pagination
from server.db import db


def granted_to(org: Organisation):
    return or_(Consent.grantee_org_id == org.id, Consent.grantee_org_type == org.type)


def list_for_org(
    org: Organisation, query: dict[str, Any], *, now: datetime
) -> tuple[list[Consent], str | None]:
    """Return a page of consents granted to `org` (directly or via its type), ordered by last
    change so that `updated_since` plus the cursor keeps a mirror in sync, revocations included."""
    statement = service.filtered(select(Consent).where(granted_to(org)), query, now=now)
    if query.get("updated_since"):
        statement = statement.where(Consent.updated_at >= query["updated_since"])
    return pagination.scan(
        db.session,
        statement,
        order_column=Consent.updated_at,
        id_column=Consent.id,
        order_attr="updated_at",
        cursor=query.get("cursor"),
        limit=query["limit"],
        keep=service.matcher(query),
    )


def present(consent: Consent, org: Organisation, *, now: datetime) -> dict:
    """Return the consent without what belongs to others: exclusions naming other
    organisations are shown only as far as they concern the caller."""
    view = service.present(consent, now=now, names={str(org.id): org.name})
    view["patient_id"] = consent.patient_id
    visible = []
    for exclusion in view["exclusions"]:
        org_ids = exclusion["org_ids"]
        if org_ids and str(org.id) not in org_ids:
            continue  # an exclusion of someone else: not the caller's business
        visible.append({**exclusion, "org_ids": [str(org.id)] if org_ids else []})
    view["exclusions"] = visible
    return view
