"""Each step of a consent request in the audit log: filed, withdrawn (by its organisation),
approved, denied (by its patient), lapsed (by the sweep). Sealed under the patient's key,
in the step's own transaction. A request to no patient, or to an erased one, is not
audited: no key may be made for them."""

from __future__ import annotations

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


def _payload(request: ConsentRequest) -> dict[str, Any]:
    return {
        "request": {
            "status": request.status,
            "data_categories": list(request.data_categories),
            "purposes": list(request.purposes),
            "actions": list(request.actions),
            "data_period": [_text(request.data_period_start), _text(request.data_period_end)],
            "valid_from": _text(request.valid_from),
            "valid_until": _text(request.valid_until),
            "max_uses": request.max_uses,
            "exclusions": list(request.exclusions or []),
            "fee_per_use": request.fee_per_use,
            "justification": request.justification,
            "summary": request.summary,
            "expires_at": _text(request.expires_at),
            "decision_reason": request.decision_reason,
        }
    }


def audited(request: ConsentRequest, kind: str, actor: audit.Actor, *, now: datetime) -> None:
    """Record one step of the request."""
    patient = db.session.get(Patient, request.patient_id)
    if patient is None or patient.erased_at is not None:
        return
    subjects = {"patient": request.patient_id, "request": request.id, "org": request.org_id}
    if request.study_id is not None:
        subjects["study"] = request.study_id
    audit.record(
        kind,
        actor=actor,
        subjects=subjects,
        payload=_payload(request),
        now=now,
        patient_id=request.patient_id,
    )
