"""The rules of a scope, shared by consents and consent requests: which organisations it may
name, that it has not already ended, how its fields are stored, and its summary."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select

from consent_api.consents.models import Consent
from consent_api.consents.summary import summarise
from consent_api.orgs.models import Organisation
from consent_api.orgs.names import org_names
from consent_api.wording import grantee_phrase
from server.db import db
from server.errors import ValidationFailed


def normalise_exclusions(exclusions: list[dict] | None) -> list[dict]:
    """Store exclusions with string ids and only the dimensions given."""
    stored = []
    for exclusion in exclusions or []:
        stored.append(
            {
                key: [str(v) for v in exclusion[key]]
                for key in ("data_categories", "purposes", "org_ids")
                if exclusion.get(key)
            }
        )
    return stored


def check_orgs_exist(scope: dict[str, Any], grantee_org_id: uuid.UUID | None) -> None:
    """Raise 422 naming the field when an organisation referenced does not exist."""
    errors: dict[str, list[str]] = {}
    if grantee_org_id is not None and db.session.get(Organisation, grantee_org_id) is None:
        errors["grantee"] = ["No organisation with this org_id."]
    # Ids arrive as UUIDs from a request body, and as text from a stored request's exclusions.
    excluded = {
        uuid.UUID(str(o)) for e in scope.get("exclusions") or [] for o in e.get("org_ids") or []
    }
    if excluded:
        found = set(
            db.session.scalars(select(Organisation.id).where(Organisation.id.in_(excluded)))
        )
        if excluded - found:
            errors["exclusions"] = ["An excluded org_id does not exist."]
    if errors:
        raise ValidationFailed(errors=errors)


def check_still_valid(scope: dict[str, Any], *, now: datetime) -> None:
    """A validity that has already ended is an error, not an instantly expired consent."""
    if scope.get("valid_until") is not None and scope["valid_until"] <= now:
        raise ValidationFailed(errors={"valid_until": ["Must be in the future."]})


def apply_scope(target: Any, scope: dict[str, Any]) -> None:
    """Copy validated scope fields onto a Consent or ConsentRequest."""
    for key in ("data_categories", "purposes", "actions", "max_uses", "valid_until"):
        if key in scope:
            setattr(target, key, scope[key])
    if "valid_from" in scope and scope["valid_from"] is not None:
        target.valid_from = scope["valid_from"]
    if "data_period" in scope:
        period = scope["data_period"] or {}
        target.data_period_start = period.get("start")
        target.data_period_end = period.get("end")
    if "exclusions" in scope:
        target.exclusions = normalise_exclusions(scope["exclusions"])


def scope_dict(target: Any) -> dict[str, Any]:
    """Return the scope fields of a Consent or ConsentRequest, as summarise() reads them."""
    return {
        "data_categories": target.data_categories,
        "purposes": target.purposes,
        "actions": target.actions,
        "data_period_start": target.data_period_start,
        "data_period_end": target.data_period_end,
        "valid_until": target.valid_until,
        "max_uses": target.max_uses,
        "exclusions": target.exclusions,
        "fee_per_use": target.fee_per_use,
    }


def excluded_orgs(target: Any) -> set[str]:
    """The organisations a consent's or request's exclusions name."""
    return {o for exclusion in target.exclusions or [] for o in exclusion.get("org_ids") or []}


def write_summary(consent: Consent) -> None:
    """Regenerate the consent's plain-language summary from its current terms."""
    names = org_names({consent.grantee_org_id, *excluded_orgs(consent)})
    grantee = grantee_phrase(
        org_name=names.get(str(consent.grantee_org_id)), org_type=consent.grantee_org_type
    )
    consent.summary = summarise(scope_dict(consent), grantee=grantee, org_names=names)
    if consent.status == "paused":
        consent.summary += " Paused: nobody may use it until you resume it."
