"""Every data use decision in its patient's audit log: permitted, emergency (permitted by
the patient's emergency access, without a consent) or refused, by the organisation that
reported it, sealed under the patient's key in the report's own transaction. A refused
attempt is audited as surely as a use: the refusal is kept, not rolled back.

An erased patient's uses are decided and kept like any other, and not audited: their key
is destroyed, and none may be made for them again (as for consent requests)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from consent_api.audit import log as audit
from consent_api.uses.models import DataUse

PERMITTED, EMERGENCY, REFUSED = "data_use.permitted", "data_use.emergency", "data_use.refused"


def kind_of(use: DataUse) -> str:
    """The entry's kind for a decided use."""
    if use.outcome != "permitted":
        return REFUSED
    return EMERGENCY if use.emergency else PERMITTED


def _text(value: date | datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _payload(use: DataUse) -> dict[str, Any]:
    return {
        "use": {
            "outcome": use.outcome,
            "reason": use.reason,
            "emergency": use.emergency,
            "data_categories": list(use.data_categories),
            "purpose": use.purpose,
            "action": use.action,
            "record_count": use.record_count,
            "occurred_at": _text(use.occurred_at),
            "data_period": [_text(use.data_date_start), _text(use.data_date_end)],
            "recipient": use.recipient,
            "holder_org_id": None if use.holder_org_id is None else str(use.holder_org_id),
            "consents": [
                {"consent_id": c["consent_id"], "consent_version": c["consent_version"]}
                for c in use.consents
            ],
            "fee": use.fee,
            "points_credited": use.points_credited,
        }
    }


def audited(use: DataUse, *, now: datetime) -> None:
    """Record the decision on one use."""
    audit.record(
        kind_of(use),
        actor=audit.Actor.organisation(use.org_id),
        subjects={"patient": use.patient_id, "data_use": use.id, "org": use.org_id},
        payload=_payload(use),
        now=now,
        patient_id=use.patient_id,
    )
