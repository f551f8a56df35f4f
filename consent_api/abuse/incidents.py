"""Incidents: raised by the detector, reviewed by the operator. Services flush, never commit.

A rule that fires again while its incident is open (or acknowledged) and the windows meet
extends that incident: its window, its counts and the patients it concerns grow, and only
patients new to it are told. Once the operator has closed an incident (dismissed or
escalated), the same pattern raises a new one only from a window that starts after the
decision: a dismissed pattern has to go on for a whole window before it is raised again.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select

from consent_api.abuse import notices
from consent_api.abuse.findings import Detection
from consent_api.abuse.models import OPEN_STATES, Incident, IncidentPatient
from consent_api.abuse.rules import Settings
from consent_api.audit import log as audit
from consent_api.events import journal, kinds
from consent_api.orgs import service as orgs
from server import pagination
from server.db import core, db, insert_or_skip
from server.errors import Conflict, NotFound, ValidationFailed

OPENED, ACKNOWLEDGED = "incident.opened", "incident.acknowledged"
DISMISSED, ESCALATED = "incident.dismissed", "incident.escalated"
TELL_BATCH = 1000


class IncidentClosed(Conflict):
    """The incident was dismissed or escalated already: a decision is made once."""

    code = "incident_closed"


def raise_incident(detection: Detection, rule: Settings, *, now: datetime) -> str | None:
    """Open an incident for what the detector saw, or extend the one open for it; tell
    the patients it concerns who were not told yet; suspend the organisation if the rule
    says so. Returns "opened", "extended", or None (a closed incident covers it)."""
    latest = db.session.scalars(
        select(Incident)
        .where(
            Incident.org_id == detection.org_id,
            Incident.rule == detection.rule,
            Incident.subject == detection.subject,
        )
        .order_by(Incident.opened_at.desc())
        .limit(1)
        .with_for_update()
    ).first()
    if latest is not None:
        meets = latest.window_end >= detection.window_start
        if latest.state in OPEN_STATES and meets:
            _extend(latest, detection, rule, now=now)
            return "extended"
        if latest.decided_at is not None and latest.decided_at >= detection.window_start:
            return None  # the operator decided on this very window
    _open(detection, rule, now=now)
    return "opened"


def _evidence(detection: Detection, examples: list[str], peak: dict[str, Any] | None) -> dict:
    return {
        "counts": dict(detection.counts),
        "peak": dict(peak or detection.counts),
        "example_use_ids": examples,
    }


def _open(detection: Detection, rule: Settings, *, now: datetime) -> Incident:
    examples = _examples(detection)
    incident = Incident(
        id=uuid.uuid4(),
        org_id=detection.org_id,
        rule=detection.rule,
        subject=detection.subject,
        severity=rule.severity,
        state="open",
        window_start=detection.window_start,
        window_end=detection.window_end,
        first_seen_at=detection.first_seen_at,
        evidence=_evidence(detection, examples, None),
        patients=0,
        opened_at=now,
        updated_at=now,
        suspended_org=False,
    )
    db.session.add(incident)
    db.session.flush()
    told = _described(incident)
    journal.record(kinds.ORG_INCIDENT_OPENED, now=now, org_ids=[incident.org_id], data=told)
    audit.record(
        OPENED,
        actor=audit.SYSTEM,
        subjects={"incident": incident.id, "org": incident.org_id},
        payload={**told, "example_use_ids": examples},
        now=now,
    )
    _tell_patients(incident, detection, now=now)
    _apply(rule, incident)
    db.session.flush()
    return incident


def _apply(rule: Settings, incident: Incident) -> None:
    """A rule that suspends suspends an active organisation, whether its incident has just
    opened or grows (the rule was switched on meanwhile, or the operator reinstated the
    organisation and it went on). An organisation a rule suspended already is held by this
    incident too: dismissing another no longer reinstates it."""
    if not rule.auto_suspend:
        return
    org = orgs.get(incident.org_id)
    if org.is_active:
        orgs.suspend(
            org.id,
            reason=f"Suspended automatically: {notices.RULE_WORDS[incident.rule]} "
            f"(incident {incident.id}).",
            automatic=True,
            refs={"incident": incident.id},
        )
        incident.suspended_org = True
    elif org.suspension_ref is not None:
        incident.suspended_org = True


def _extend(incident: Incident, detection: Detection, rule: Settings, *, now: datetime) -> None:
    peak = dict(incident.evidence.get("peak") or {})
    for key, value in detection.counts.items():
        if isinstance(value, int) and value > peak.get(key, 0):
            peak[key] = value
    incident.window_end = detection.window_end
    incident.evidence = _evidence(detection, incident.evidence.get("example_use_ids", []), peak)
    incident.updated_at = now
    _tell_patients(incident, detection, now=now)
    _apply(rule, incident)
    db.session.flush()


def _examples(detection: Detection) -> list[str]:
    if detection.examples is None:
        return []
    return [str(use_id) for use_id in core().execute(detection.examples).scalars()]


def _tell_patients(incident: Incident, detection: Detection, *, now: datetime) -> None:
    """Record the patients the incident concerns; tell each one, once, however many uses."""
    if detection.concerned is None:
        return
    patient_ids = notices.living(list(core().execute(detection.concerned).scalars()))
    org_name = orgs.get(incident.org_id).name
    told = 0
    for start in range(0, len(patient_ids), TELL_BATCH):
        batch = patient_ids[start : start + TELL_BATCH]
        new = list(
            core()
            .execute(
                insert_or_skip(IncidentPatient.__table__, "patient_id", "incident_id")
                .values(
                    [{"patient_id": p, "incident_id": incident.id, "told_at": now} for p in batch]
                )
                .returning(IncidentPatient.__table__.c.patient_id)
            )
            .scalars()
        )
        notices.unusual_access(new, incident, org_name, now=now)
        told += len(new)
    incident.patients += told


def _described(incident: Incident) -> dict[str, Any]:
    """What the organisation is told of an incident (and what its audit entry says)."""
    return {
        "incident": {
            "id": str(incident.id),
            "rule": incident.rule,
            "severity": incident.severity,
            "state": incident.state,
            "window_start": incident.window_start.isoformat(),
            "window_end": incident.window_end.isoformat(),
            "counts": dict(incident.evidence.get("counts", {})),
        }
    }


# --- the operator's review ---------------------------------------------------------------------


def get(incident_id: uuid.UUID, *, lock: bool = False) -> Incident:
    incident = db.session.get(Incident, incident_id, with_for_update=lock)
    if incident is None:
        raise NotFound("No incident with this id.")
    return incident


def review_queue(query: dict[str, Any]) -> pagination.Page:
    """Incidents, newest first, filtered by state, rule, severity and organisation."""
    statement = select(Incident)
    for name in ("state", "rule", "severity", "org_id"):
        if name in query:
            statement = statement.where(getattr(Incident, name) == query[name])
    return pagination.fetch(
        statement,
        order_column=Incident.opened_at,
        id_column=Incident.id,
        query=query,
        descending=True,
    )


def _close(
    incident: Incident,
    state: str,
    kind: str,
    payload: dict[str, Any],
    *,
    by: uuid.UUID | None,
    note: str | None,
    now: datetime,
) -> None:
    """The operator's decision: recorded, audited, and told to the organisation."""
    incident.state, incident.decided_at, incident.decided_by = state, now, by
    incident.note, incident.updated_at = note, now
    db.session.flush()
    _audited(kind, incident, {"note": note, **payload}, by=by, now=now)
    journal.record(
        kinds.ORG_INCIDENT_CLOSED, now=now, org_ids=[incident.org_id], data=_described(incident)
    )


def _open_one(incident_id: uuid.UUID) -> Incident:
    incident = get(incident_id, lock=True)
    if incident.state not in OPEN_STATES:
        raise IncidentClosed(f"This incident was {incident.state} already.")
    return incident


def _audited(
    kind: str, incident: Incident, payload: dict[str, Any], *, by: Any, now: datetime
) -> None:
    audit.operator_action(
        kind,
        by=by,
        subjects={"incident": incident.id, "org": incident.org_id},
        payload={"state": incident.state, **payload},
        now=now,
    )


def acknowledge(incident_id: uuid.UUID, *, by: uuid.UUID | None, now: datetime) -> Incident:
    """The operator is looking into it (an acknowledged incident still grows)."""
    incident = _open_one(incident_id)
    if incident.state == "open":
        incident.state, incident.updated_at = "acknowledged", now
        db.session.flush()
        _audited(ACKNOWLEDGED, incident, {}, by=by, now=now)
    return incident


def _may_reinstate(incident: Incident) -> None:
    """Dismissing may lift only a rule's own suspension, held by no other open incident: a
    suspension an operator made or confirmed is lifted with `/v1/admin/orgs/{id}/resume`."""
    org = orgs.get(incident.org_id)
    problem = None
    if not incident.suspended_org:
        problem = "This incident did not suspend the organisation."
    elif org.is_active:
        problem = "The organisation is not suspended."
    elif org.suspension_ref is None:
        problem = "An operator suspended the organisation (or confirmed it): resume it directly."
    else:
        others = db.session.scalars(
            select(Incident.id).where(
                Incident.org_id == incident.org_id,
                Incident.id != incident.id,
                Incident.state.in_(OPEN_STATES),
                Incident.suspended_org.is_(True),
            )
        ).first()
        if others is not None:
            problem = f"Incident {others} holds the suspension too: decide it first."
    if problem:
        raise ValidationFailed(errors={"resume_org": [problem]})


def dismiss(
    incident_id: uuid.UUID, *, note: str, resume_org: bool, by: uuid.UUID | None, now: datetime
) -> Incident:
    """Not abuse, saying why; `resume_org` lifts the organisation's suspension too, for an
    incident whose rule suspended it (any other suspension is the operator's to lift)."""
    incident = _open_one(incident_id)
    if resume_org:
        _may_reinstate(incident)
    _close(incident, "dismissed", DISMISSED, {"resume_org": resume_org}, by=by, note=note, now=now)
    if resume_org:
        orgs.resume(incident.org_id, by=by)
    return incident


def escalate(
    incident_id: uuid.UUID,
    *,
    note: str | None,
    suspend: bool,
    by: uuid.UUID | None,
    now: datetime,
) -> Incident:
    """Abuse, confirmed: `suspend` blacklists the organisation, the note as its reason."""
    incident = _open_one(incident_id)
    _close(incident, "escalated", ESCALATED, {"suspend": suspend}, by=by, note=note, now=now)
    if suspend:  # the operator's suspension from now on, with the note as its reason
        reason = note or f"Suspended: {notices.RULE_WORDS[incident.rule]} (incident {incident.id})."
        orgs.restate(incident.org_id, reason=reason, by=by, refs={"incident": incident.id})
    return incident
