"""Record data uses: decide at the time of use, count against consents, tell the patient.

One report is one transaction: the consents it relies on are read and locked, the decision
is made, use counts go up (a conditional UPDATE, so `max_uses` holds under concurrency), the
use is written and the patient's notice with it. A refused attempt is written too, and
answered with `UseNotPermitted`, a refusal the transaction boundary keeps.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from flask import current_app
from sqlalchemy import and_, bindparam, insert, select

from consent_api.audit import log as audit
from consent_api.decisions import locking
from consent_api.links import naming
from consent_api.links.schemas import PatientNamedIn
from consent_api.orgs.models import Organisation
from consent_api.orgs.types import DATA_HOLDER_TYPES
from consent_api.orgs.values import Org
from consent_api.patients.models import Patient
from consent_api.points import service as points
from consent_api.points.split import Terms
from consent_api.uses import auditing, notices
from consent_api.uses.deciding import EMERGENCY_ACCESS, UseDecision, decide_use
from consent_api.uses.models import DataUse
from notifications import outbox
from notifications.models import Device, NotificationPreferences
from server.db import core
from server.errors import KeptRefusal, ValidationFailed

CLOCK_SKEW = timedelta(minutes=5)  # how far in the future a reported use may claim to be


class UseNotPermitted(KeptRefusal):
    """No consent permits the use: for a patient, the attempt is on their record and they are
    alerted. An erased patient is decided like any other (her consents were revoked at
    erasure) and only told nothing, so the answer tells the organisation nothing about who
    erased an account."""

    status, code = 403, "use_not_permitted"

    def __init__(self, reason: str, data_use_id: uuid.UUID) -> None:
        super().__init__(
            "No consent permits this use. Refused attempts are recorded and shown to the patient.",
            reason=reason,
            data_use_id=str(data_use_id),
        )


class UsePatient(NamedTuple):
    """What a use needs to know of its patient, read in one query."""

    id: uuid.UUID
    erased: bool  # decided as any patient; told nothing (there is no inbox any more)
    emergency_access: bool
    terms: Terms
    audience: outbox.Audience


_patients = Patient.__table__
# Everything a use needs to know about its patient, in one query: whether they exist and
# allow emergency access, the points terms in force, their push audience (one row per
# active device, with their notification preferences) and their audit key (so the use's
# audit entry, and its posting's, read none).
_PATIENT = audit.join_key(
    select(
        _patients.c.erased_at,
        _patients.c.emergency_access,
        *points.latest_terms_columns(),
        *outbox.AUDIENCE_COLUMNS,
    )
    .select_from(_patients)
    .outerjoin(NotificationPreferences, NotificationPreferences.patient_id == _patients.c.id)
    .outerjoin(Device, and_(Device.patient_id == _patients.c.id, Device.active.is_(True)))
    .where(_patients.c.id == bindparam("patient_id")),
    _patients.c.id,
)
_orgs = Organisation.__table__
_HOLDER = select(_orgs.c.type, _orgs.c.status).where(_orgs.c.id == bindparam("org_id"))


def _check_holder(holder_id: uuid.UUID | None, reporter: Org) -> None:
    """A use's data holder is paid a share of its fee: it must be a real, active data-holding
    organisation, and not the reporter itself (who would pay itself the holder's share)."""
    if holder_id is None:
        return
    holder = core().execute(_HOLDER, {"org_id": holder_id}).first()
    if holder is None:
        problem = "No organisation with this id."
    elif holder_id == reporter.id:
        problem = "The holder is the organisation whose data you used, not yourself."
    elif holder.type not in DATA_HOLDER_TYPES:
        problem = "Must be an organisation that holds patients' data (a hospital)."
    elif holder.status != "active":
        problem = "This organisation is suspended."
    else:
        return
    raise ValidationFailed(errors={"holder_org_id": [problem]})


def _validate(body: dict[str, Any], org: Org, *, now: datetime) -> UsePatient:
    _check_holder(body.get("holder_org_id"), org)
    if body["occurred_at"] > now + CLOCK_SKEW:
        raise ValidationFailed(errors={"occurred_at": ["Must not be in the future."]})
    # A late report is decided against the consent as it stood then; without a bound, a use
    # could be backdated to before a revocation long after it.
    hours = current_app.config["DATA_USE_MAX_AGE_HOURS"]
    if body["occurred_at"] < now - timedelta(hours=hours):
        raise ValidationFailed(
            errors={
                "occurred_at": [f"Must be within the last {hours} hours; report uses promptly."]
            }
        )
    patient_id = naming.resolve(org.id, PatientNamedIn.named(body))
    rows = core().execute(_PATIENT, {"patient_id": patient_id}).all()
    if not rows:  # no such patient (a forged reference): refused as if unconsented
        raise UseNotPermitted("no_consent", uuid.uuid4())
    first = rows[0]
    audit.known_key(patient_id, first.audit_key)
    return UsePatient(
        patient_id,
        first.erased_at is not None,
        first.emergency_access,
        points.terms_or_defaults(first.commission_bp, first.patient_bp),
        outbox.audience_of(rows),
    )


def report(org: Org, body: dict[str, Any], *, now: datetime) -> DataUse:
    """Decide and record one use and notify the patient; a refused attempt is recorded and
    notified too, then raised as `UseNotPermitted`."""
    patient = _validate(body, org, now=now)
    at = body["occurred_at"]
    period = body.get("data_date_range")
    decision = decide_use(
        locking.candidates_at(patient.id, org, at),
        org=org,
        categories=body["data_categories"],
        purpose=body["purpose"],
        action=body["action"],
        data_start=period["start"] if period else None,
        data_end=period["end"] if period else None,
        at=at,
        emergency_allowed=patient.emergency_access,
    )
    fee = 0
    if decision.permitted:
        fee = locking.count_uses([r.consent_id for r in decision.relied_on])
    if fee is None:  # a consent's uses ran out since (its max_uses was lowered): not counted
        fee = 0
        if decision.emergency and patient.emergency_access:
            decision = UseDecision(True, EMERGENCY_ACCESS, True, ())
        else:
            decision = UseDecision(False, "max_uses_reached", decision.emergency, ())
    use = DataUse(
        id=uuid.uuid4(),
        patient_id=patient.id,
        org_id=org.id,
        holder_org_id=body.get("holder_org_id"),
        recipient=body.get("recipient"),
        data_categories=list(body["data_categories"]),
        purpose=body["purpose"],
        action=body["action"],
        record_count=body["record_count"],
        occurred_at=at,
        data_date_start=period["start"] if period else None,
        data_date_end=period["end"] if period else None,
        outcome="permitted" if decision.permitted else "refused",
        reason=decision.reason,
        emergency=decision.emergency and decision.permitted,
        consents=[
            {
                "consent_id": str(r.consent_id),
                "consent_version": r.consent_version,
                "data_categories": list(r.data_categories),
            }
            for r in decision.relied_on
        ],
        fee=fee,
        points_credited=0,
        created_at=now,
    )
    priced = points.price(use, patient.terms) if fee else None
    if priced is not None:
        use.points_credited = priced.split.patient
    core().execute(insert(DataUse.__table__), [{key: getattr(use, key) for key in _USE_COLUMNS}])
    if not patient.erased:
        auditing.audited(use, now=now)
    if not decision.permitted:
        if not patient.erased:
            window = timedelta(minutes=current_app.config["REFUSAL_ALERT_WINDOW_MINUTES"])
            notices.access_refused(use, org.name, now=now, window=window, to=patient.audience)
        raise UseNotPermitted(use.reason, use.id)
    if priced is not None:
        points.post_use(use, priced, now=now)
    if patient.erased:
        pass  # no inbox to tell
    elif use.emergency:
        notices.emergency_access(
            use, org.name, now=now, points=use.points_credited, to=patient.audience
        )
    else:
        notices.data_use(use, org.name, now=now, points=use.points_credited, to=patient.audience)
    return use


_USE_COLUMNS = [column.key for column in DataUse.__table__.columns]
