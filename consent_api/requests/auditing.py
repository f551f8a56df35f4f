"""Each step of a consent request in the audit log: filed, withdrawn (by its organisation;
a study's invitations filed by the system, in batches), approved, denied (by its patient),
lapsed (by the sweep). Sealed under the patient's key,
in the step's own transaction. A request to no patient, or to an erased one, is not
audited: no key may be made for them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from consent_api.audit import log as audit
from consent_api.patients.models import Patient
from consent_api.requests.models import ConsentRequest
from server.db import db

FILED, WITHDRAWN = "consent_request.filed", "consent_request.withdrawn"
APPROVED, DENIED, LAPSED = (
    "consent_request.approved",
    "consent_request.denied",
    "consent_request.lapsed",
)


def _text(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value


def _payload(request: Mapping[str, Any]) -> dict[str, Any]:
    """What the entry says of a request, from its columns."""
    return {
        "request": {
            "status": request["status"],
            "data_categories": list(request["data_categories"]),
            "purposes": list(request["purposes"]),
            "actions": list(request["actions"]),
            "data_period": [_text(request["data_period_start"]), _text(request["data_period_end"])],
            "valid_from": _text(request["valid_from"]),
            "valid_until": _text(request["valid_until"]),
            "max_uses": request["max_uses"],
            "exclusions": list(request["exclusions"] or []),
            "fee_per_use": request["fee_per_use"],
            "justification": request["justification"],
            "summary": request["summary"],
            "expires_at": _text(request["expires_at"]),
            "decision_reason": request.get("decision_reason"),
        }
    }


def _subjects(request: Mapping[str, Any]) -> dict[str, Any]:
    subjects = {
        "patient": request["patient_id"],
        "request": request["id"],
        "org": request["org_id"],
    }
    if request.get("study_id") is not None:
        subjects["study"] = request["study_id"]
    return subjects


def audited(request: ConsentRequest, kind: str, actor: audit.Actor, *, now: datetime) -> None:
    """Record one step of the request."""
    patient = db.session.get(Patient, request.patient_id)
    if patient is None or patient.erased_at is not None:
        return
    columns = {column.key: getattr(request, column.key) for column in _COLUMNS}
    audit.record(
        kind,
        actor=actor,
        subjects=_subjects(columns),
        payload=_payload(columns),
        now=now,
        patient_id=request.patient_id,
    )


def invitations_filed(requests: list[dict[str, Any]], *, now: datetime) -> None:
    """Record a batch of a study's invitations (their rows, as inserted), filed by the
    system for the study: one statement for the batch. The fan-out invites no erased
    patient."""
    audit.record_many(
        FILED,
        actor=audit.SYSTEM,
        records=[
            audit.Record(_subjects(row), _payload(row), row["patient_id"]) for row in requests
        ],
        now=now,
    )


_COLUMNS = ConsentRequest.__table__.columns
