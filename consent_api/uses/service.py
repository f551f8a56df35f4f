"""Record data uses: decide at the time of use, count against consents, tell the patient.

One report is one transaction: the consents it relies on are read and locked, the decision
is made, use counts go up (a conditional UPDATE, so `max_uses` holds under concurrency), the
use is written and the patient's notice with it. A refused attempt is written too.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from flask import current_app
from sqlalchemy import Select, and_, bindparam, insert, or_, select, update

from consent_api import catalog
from consent_api.consents.models import Consent
from consent_api.consents.service import org_names
from consent_api.decisions import store
from consent_api.decisions.decide import Org
from consent_api.orgs.models import Organisation
from consent_api.patients.models import Patient
from consent_api.points import service as points
from consent_api.points.split import Terms
from consent_api.uses.deciding import EMERGENCY_ACCESS, ReliedOn, UseDecision, decide_use
from consent_api.uses.models import DataUse
from notifications import notices, outbox
from notifications.models import Device, NotificationPreferences
from server import pagination
from server.db import core, db
from server.errors import ValidationFailed

CLOCK_SKEW = timedelta(minutes=5)  # how far in the future a reported use may claim to be


_patients = Patient.__table__
# Everything a use needs to know about its patient, in one query: whether they exist and
# allow emergency access, their push devices with their notification preferences (one row
# per active device), and the points terms in force.
_PATIENT = (
    select(
        _patients.c.emergency_access,
        *points.latest_terms_columns(),
        *outbox.TARGET_COLUMNS,
    )
    .select_from(_patients)
    .outerjoin(NotificationPreferences, NotificationPreferences.patient_id == _patients.c.id)
    .outerjoin(Device, and_(Device.patient_id == _patients.c.id, Device.active.is_(True)))
    .where(_patients.c.id == bindparam("patient_id"), _patients.c.erased_at.is_(None))
)


_ORG = select(Organisation.__table__.c.id).where(Organisation.__table__.c.id == bindparam("org_id"))


class _Patient(NamedTuple):
    id: uuid.UUID
    emergency_access: bool
    terms: Terms
    targets: list[Any]


def _validate(body: dict[str, Any], *, now: datetime) -> _Patient:
    rows = core().execute(_PATIENT, {"patient_id": body["patient_id"]}).all()
    if not rows:
        raise ValidationFailed(errors={"patient_id": ["No patient with this id."]})
    first = rows[0]
    patient = _Patient(
        body["patient_id"],
        first[0],
        points.terms_or_defaults(first[1], first[2]),
        [row[3:] for row in rows if row[3] is not None],
    )
    holder = body.get("holder_org_id")
    if holder is not None and core().execute(_ORG, {"org_id": holder}).first() is None:
        raise ValidationFailed(errors={"holder_org_id": ["No organisation with this id."]})
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
    return patient


_consents = Consent.__table__
# Core, not ORM: this and the inserts below run in every data use (measured with make bench).
_ADD_USE = (
    update(_consents)
    .where(
        _consents.c.id == bindparam("consent_id"),
        or_(_consents.c.max_uses.is_(None), _consents.c.use_count < _consents.c.max_uses),
    )
    .values(use_count=_consents.c.use_count + 1)
    .returning(_consents.c.fee_per_use)
)


def _add_use(consent: ReliedOn) -> int | None:
    """Count one use; returns the consent's fee per use, or None if its uses ran out."""
    return core().execute(_ADD_USE, {"consent_id": consent.consent_id}).scalar_one_or_none()


def _count_uses(relied_on: tuple[ReliedOn, ...]) -> int | None:
    """Add one use to each consent relied on, all or none; returns the total fee, or None if
    one has run out (its row is locked, so only a `max_uses` lowered since the version
    decided on can do that)."""
    if len(relied_on) <= 1:
        fees = [_add_use(consent) for consent in relied_on]
        return None if None in fees else sum(fees)
    with db.session.begin_nested() as savepoint:
        fees = [_add_use(consent) for consent in relied_on]
        if None in fees:
            savepoint.rollback()
            return None
    return sum(fees)


def report(org: Org, body: dict[str, Any], *, now: datetime) -> DataUse:
    """Decide and record one use (or refused attempt) and notify the patient."""
    patient = _validate(body, now=now)
    at = body["occurred_at"]
    period = body.get("data_date_range")
    decision = decide_use(
        store.candidates_at(patient.id, org, at),
        org=org,
        categories=body["data_categories"],
        purpose=body["purpose"],
        action=body["action"],
        data_start=period["start"] if period else None,
        data_end=period["end"] if period else None,
        at=at,
        emergency_allowed=patient.emergency_access,
    )
    fee = _count_uses(decision.relied_on) if decision.permitted else 0
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
    if not decision.permitted:
        notices.access_refused(use, org.name, now=now, targets=patient.targets)
        return use
    if priced is not None:
        points.post_use(use, priced, now=now)
    if use.emergency:
        notices.emergency_access(
            use, org.name, now=now, points=use.points_credited, targets=patient.targets
        )
    else:
        notices.data_use(
            use, org.name, now=now, points=use.points_credited, targets=patient.targets
        )
    return use


_USE_COLUMNS = [column.key for column in DataUse.__table__.columns]


def _range(use: DataUse) -> dict[str, Any] | None:
    if use.data_date_start is None:
        return None
    return {"start": use.data_date_start, "end": use.data_date_end}


def present(use: DataUse) -> dict[str, Any]:
    """The reporting organisation's view of a recorded use."""
    return {
        "id": use.id,
        "patient_id": use.patient_id,
        "org_id": use.org_id,
        "holder_org_id": use.holder_org_id,
        "recipient": use.recipient,
        "data_categories": use.data_categories,
        "purpose": use.purpose,
        "action": use.action,
        "record_count": use.record_count,
        "occurred_at": use.occurred_at,
        "data_date_range": _range(use),
        "outcome": use.outcome,
        "reason": use.reason,
        "emergency": use.emergency,
        "consents": use.consents,
        "points_credited": use.points_credited,
        "recorded_at": use.created_at,
    }


def _label(code: str, labels: dict[str, str]) -> dict[str, str]:
    return {"code": code, "label": labels.get(code, code)}


def present_entries(uses: list[DataUse]) -> list[dict[str, Any]]:
    """The patient's view of access-history lines, organisation names read in one query."""
    names = org_names([u.org_id for u in uses] + [u.holder_org_id for u in uses])
    return [
        {
            "id": use.id,
            "occurred_at": use.occurred_at,
            "recorded_at": use.created_at,
            "organisation": {"id": use.org_id, "name": names.get(str(use.org_id), "")},
            "holder": {"id": use.holder_org_id, "name": names.get(str(use.holder_org_id), "")}
            if use.holder_org_id
            else None,
            "recipient": use.recipient,
            "data_categories": [_label(c, catalog.CATEGORIES) for c in use.data_categories],
            "purpose": _label(use.purpose, catalog.PURPOSES),
            "action": _label(use.action, catalog.ACTIONS),
            "record_count": use.record_count,
            "data_date_range": _range(use),
            "outcome": use.outcome,
            "reason": use.reason,
            "emergency": use.emergency,
            "consents": use.consents,
            "points_credited": use.points_credited,
        }
        for use in uses
    ]


def _filtered(patient: Patient, query: dict[str, Any]) -> Select:
    statement = select(DataUse).where(DataUse.patient_id == patient.id)
    if "org_id" in query:
        statement = statement.where(DataUse.org_id == query["org_id"])
    if "purpose" in query:
        statement = statement.where(DataUse.purpose == query["purpose"])
    if "outcome" in query:
        statement = statement.where(DataUse.outcome == query["outcome"])
    if "since" in query:
        statement = statement.where(DataUse.occurred_at >= query["since"])
    if "until" in query:
        statement = statement.where(DataUse.occurred_at < query["until"])
    return statement


def access_log(patient: Patient, query: dict[str, Any]) -> tuple[list[DataUse], str | None]:
    """One page of the patient's access history, newest first."""
    category = query.get("data_category")
    return pagination.scan(
        db.session,
        _filtered(patient, query),
        order_column=DataUse.occurred_at,
        id_column=DataUse.id,
        order_attr="occurred_at",
        cursor=query.get("cursor"),
        limit=query["limit"],
        keep=lambda use: category is None or category in use.data_categories,
        descending=True,
    )
