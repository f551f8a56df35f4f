"""The operator's review queue of incidents and the rules' settings."""

from __future__ import annotations

import uuid

from flask import Blueprint

from consent_api.abuse import incidents, settings
from consent_api.abuse.rules import DEFAULTS
from consent_api.abuse.schemas import (
    DismissIn,
    EscalateIn,
    IncidentOut,
    IncidentPageOut,
    IncidentQuery,
    RuleChangeIn,
    RuleListOut,
    RuleOut,
    rule_change,
)
from server import scopes
from server.db import utcnow
from server.guard import acting_org_id, require
from server.http import body, output, query

bp = Blueprint("abuse", __name__)


def _rule(rule_settings) -> dict:
    return {**vars(rule_settings), "defaults": DEFAULTS[rule_settings.rule].thresholds}


@bp.get("/v1/admin/incidents")
@require(scopes.ADMIN)
@output(IncidentPageOut)
@query(IncidentQuery)
def review_queue(query):
    """Incidents, newest first; `state=open` is the review queue."""
    return incidents.review_queue(query)


@bp.get("/v1/admin/incidents/<uuid:incident_id>")
@require(scopes.ADMIN)
@output(IncidentOut)
def get_incident(incident_id: uuid.UUID):
    """One incident with its evidence."""
    return incidents.get(incident_id)


@bp.post("/v1/admin/incidents/<uuid:incident_id>/acknowledge")
@require(scopes.ADMIN)
@output(IncidentOut)
def acknowledge(incident_id: uuid.UUID):
    """The operator is looking into it."""
    return incidents.acknowledge(incident_id, by=acting_org_id(), now=utcnow())


@bp.post("/v1/admin/incidents/<uuid:incident_id>/dismiss")
@require(scopes.ADMIN)
@output(IncidentOut)
@body(DismissIn)
def dismiss(incident_id: uuid.UUID, body):
    """Not abuse, saying why (optionally reinstating the organisation)."""
    return incidents.dismiss(
        incident_id,
        note=body["note"],
        resume_org=body["resume_org"],
        by=acting_org_id(),
        now=utcnow(),
    )


@bp.post("/v1/admin/incidents/<uuid:incident_id>/escalate")
@require(scopes.ADMIN)
@output(IncidentOut)
@body(EscalateIn, optional=True)
def escalate(incident_id: uuid.UUID, body):
    """Abuse: close it as such, optionally suspending the organisation."""
    return incidents.escalate(
        incident_id,
        note=body.get("note"),
        suspend=body.get("suspend", False),
        by=acting_org_id(),
        now=utcnow(),
    )


@bp.get("/v1/admin/abuse-rules")
@require(scopes.ADMIN)
@output(RuleListOut)
def list_rules():
    """Every rule's settings in force, with its defaults."""
    return {"items": [_rule(s) for s in settings.all_settings().values()]}


@bp.get("/v1/admin/abuse-rules/<rule>")
@require(scopes.ADMIN)
@output(RuleOut)
def get_rule(rule: str):
    """One rule's settings."""
    return _rule(settings.get(rule))


@bp.patch("/v1/admin/abuse-rules/<rule>")
@require(scopes.ADMIN)
@output(RuleOut)
@body(RuleChangeIn)
def change_rule(rule: str, body):
    """Change a rule's settings; what is left out stays."""
    settings.get(rule)  # an unknown rule is a 404 before its thresholds are read
    change = rule_change(rule, body)
    return _rule(settings.change(rule, change, by=acting_org_id(), now=utcnow()))
