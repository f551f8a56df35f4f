"""The audit log: the patient reads their entries and proves each; anyone reads the latest
signed checkpoint and proves an older one its prefix (as Certificate Transparency logs
publish theirs)."""

from __future__ import annotations

import uuid

from flask import Blueprint

from consent_api.audit import reading
from consent_api.audit.schemas import (
    AdminAuditPageOut,
    AdminAuditQuery,
    AuditListQuery,
    AuditPageOut,
    CheckpointQuery,
    InclusionOut,
    LatestCheckpointOut,
)
from server import scopes
from server.guard import acting_patient_id, public, require
from server.http import output, query

bp = Blueprint("audit", __name__)


@bp.get("/v1/me/audit")
@require(scopes.PATIENT)
@output(AuditPageOut)
@query(AuditListQuery)
def list_mine(query):
    """The patient's audit entries, newest first."""
    return reading.for_patient(acting_patient_id(), query)


@bp.get("/v1/me/audit/<uuid:entry_id>/proof")
@require(scopes.PATIENT)
@output(InclusionOut)
def prove_mine(entry_id: uuid.UUID):
    """One entry's inclusion proof in the latest signed checkpoint."""
    return reading.proof_for_patient(acting_patient_id(), entry_id)


@bp.get("/v1/audit/checkpoint")
@public
@output(LatestCheckpointOut)
@query(CheckpointQuery)
def checkpoint(query):
    """The latest signed checkpoint, and optionally the consistency proof from an older one."""
    return reading.latest(query.get("from_size"))


@bp.get("/v1/admin/audit")
@require(scopes.ADMIN)
@output(AdminAuditPageOut)
@query(AdminAuditQuery)
def list_all(query):
    """Every entry, newest first, by kind, patient, actor and time (never a payload)."""
    return reading.for_operator(query)
