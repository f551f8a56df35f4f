"""Organisations' lifecycle: add, look up, suspend, resume. Services flush, never commit.
Adding, suspending and resuming are operator actions, each in the audit log (`by` is the
operator organisation acting; None for the CLI and the demo seed)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select

from consent_api.audit import log as audit
from consent_api.events import journal, kinds
from consent_api.orgs.models import Organisation
from consent_api.orgs.schemas import PROFILE_FIELDS
from consent_api.orgs.types import DATA_ORG_TYPES
from server import pagination
from server.db import db, utcnow
from server.errors import Conflict, NotFound


class CannotSuspendSelf(Conflict):
    """An operator suspending its own organisation would lock itself out of the admin API."""

    code = "cannot_suspend_self"


REGISTERED, SUSPENDED, RESUMED = "org.registered", "org.suspended", "org.resumed"
RESTATED = "org.suspension_restated"


def add(
    *,
    name: str,
    type: str,
    profile: dict[str, Any] | None = None,
    by: uuid.UUID | None = None,
) -> Organisation:
    """Add an active organisation (its credentials are registration's business)."""
    given = {field: value for field, value in (profile or {}).items() if value is not None}
    org = Organisation(name=name, type=type, status="active", created_at=utcnow(), **given)
    db.session.add(org)
    db.session.flush()
    _audited(REGISTERED, org, {"name": name, "type": type, **given}, by=by, now=org.created_at)
    return org


def _audited(
    kind: str, org: Organisation, payload: dict[str, Any], *, by: uuid.UUID | None, now: datetime
) -> None:
    audit.operator_action(kind, by=by, subjects={"org": org.id}, payload=payload, now=now)


def get(org_id: uuid.UUID) -> Organisation:
    """Return an organisation or raise 404."""
    org = db.session.get(Organisation, org_id)
    if org is None:
        raise NotFound("No organisation with this id.")
    return org


def directory(query: dict[str, Any]) -> pagination.Page:
    """A page of the active organisations a consent may name, oldest first, filtered by
    type and by a piece of the name (a literal, case-insensitive)."""
    statement = select(Organisation).where(
        Organisation.status == "active", Organisation.type.in_(DATA_ORG_TYPES)
    )
    if "type" in query:
        statement = statement.where(Organisation.type == query["type"])
    if "q" in query:
        statement = statement.where(Organisation.name.icontains(query["q"], autoescape=True))
    return pagination.fetch(
        statement, order_column=Organisation.created_at, id_column=Organisation.id, query=query
    )


def update_profile(org: Organisation, changes: dict[str, Any]) -> Organisation:
    """Change the organisation's public profile (only the fields given)."""
    for field in PROFILE_FIELDS:
        if field in changes:
            setattr(org, field, changes[field])
    db.session.flush()
    return org


def list_all() -> list[Organisation]:
    """Return every organisation, oldest first."""
    return list(db.session.scalars(select(Organisation).order_by(Organisation.created_at)))


def suspend(
    org_id: uuid.UUID,
    *,
    by: uuid.UUID | None = None,
    reason: str | None = None,
    automatic: bool = False,
    refs: dict[str, Any] | None = None,
) -> Organisation:
    """Blacklist an organisation, saying why: its tokens stop working on the next request,
    and its patients and the organisation itself see the reason. The operator acting (`by`)
    may not suspend itself; the CLI, with no acting organisation, may. A rule that suspends
    on its own (`automatic`) is recorded as the system's action, with what it refers to
    (`refs`, e.g. the incident). The operator suspending a suspended organisation with a
    reason restates it (and takes the suspension over from a rule); without one, nothing
    changes."""
    if by == org_id:
        raise CannotSuspendSelf(
            "An operator cannot suspend its own organisation; another operator (or the CLI) can."
        )
    org = get(org_id)
    if not org.is_active:
        if reason is not None and not automatic:
            return restate(org_id, reason=reason, by=by, refs=refs)
        return org
    org.status, org.suspended_at = "suspended", utcnow()
    org.suspension_reason = reason
    org.suspension_ref = (refs or {}).get("incident") if automatic else None
    db.session.flush()
    _told_suspended(org, reason, refs, now=org.suspended_at)
    payload = {"status": org.status, "reason": reason, "automatic": automatic}
    subjects = {"org": org.id, **(refs or {})}
    actor = audit.SYSTEM if automatic else audit.Actor.operator(by)
    audit.record(SUSPENDED, actor=actor, subjects=subjects, payload=payload, now=org.suspended_at)
    return org


def _told_suspended(
    org: Organisation, reason: str | None, refs: dict[str, Any] | None, *, now: datetime
) -> None:
    told = {"reason": reason}
    told |= {f"{key}_id": str(value) for key, value in (refs or {}).items()}
    journal.record(kinds.ORG_SUSPENDED, now=now, org_ids=[org.id], data=told)


def restate(
    org_id: uuid.UUID, *, reason: str, by: uuid.UUID | None, refs: dict[str, Any] | None = None
) -> Organisation:
    """The operator's reason for a suspended organisation's suspension (an escalation that
    confirms what a rule suspended it for, or a corrected reason): it and its patients read
    the new one, it is told again, and the suspension is the operator's from now on (no
    dismissal lifts it). An active organisation is suspended instead."""
    if by == org_id:
        raise CannotSuspendSelf("An operator cannot suspend its own organisation.")
    org = get(org_id)
    if org.is_active:
        return suspend(org_id, by=by, reason=reason, refs=refs)
    changed = org.suspension_reason != reason
    org.suspension_reason, org.suspension_ref = reason, None
    db.session.flush()
    if changed:
        now = utcnow()
        _told_suspended(org, reason, refs, now=now)
        audit.record(
            RESTATED,
            actor=audit.Actor.operator(by),
            subjects={"org": org.id, **(refs or {})},
            payload={"status": org.status, "reason": reason},
            now=now,
        )
    return org


def resume(org_id: uuid.UUID, *, by: uuid.UUID | None = None) -> Organisation:
    """Lift a suspension."""
    org = get(org_id)
    if not org.is_active:
        org.status, org.suspended_at, org.suspension_reason = "active", None, None
        org.suspension_ref = None
        db.session.flush()
        now = utcnow()
        journal.record(kinds.ORG_RESUMED, now=now, org_ids=[org.id])
        _audited(RESUMED, org, {"status": org.status}, by=by, now=now)
    return org
