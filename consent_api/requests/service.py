"""Consent requests: organisations ask, patients approve (possibly narrowed) or deny."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from consent_api.audit import log as audit
from consent_api.consents import service as consents
from consent_api.consents.models import Consent
from consent_api.consents.scope import (
    apply_scope,
    check_orgs_exist,
    check_still_valid,
    excluded_orgs,
    scope_dict,
)
from consent_api.consents.states import state_of
from consent_api.consents.summary import summarise
from consent_api.events import journal, kinds
from consent_api.links import naming
from consent_api.links.schemas import PatientNamedIn
from consent_api.orgs.models import Organisation
from consent_api.orgs.names import org_names
from consent_api.patients.models import Patient
from consent_api.requests import auditing, duplicates, notices
from consent_api.requests.models import ConsentRequest
from consent_api.requests.narrowing import narrowed_scope
from server import pagination
from server.db import db
from server.errors import Conflict, NotFound, ValidationFailed


class RequestNotPending(Conflict):
    """The request was already answered, withdrawn or has expired."""

    code = "request_not_pending"


def create(org: Organisation, body: dict[str, Any], *, now: datetime) -> ConsentRequest:
    """File a request with a patient; it stays pending until answered or `expires_at`.

    The patient is named as the organisation knows them (`UnknownPatient` if it knows nobody
    so); one repeating a request still pending is `DuplicateRequest`. An erased patient is
    answered like any other (the answer must not tell an organisation who exists): the
    request is kept, nobody is asked, and it lapses."""
    if body["expires_at"] <= now:
        raise ValidationFailed(errors={"expires_at": ["Must be in the future."]})
    check_orgs_exist(body, None)
    check_still_valid(body, now=now)
    patient_id = naming.resolve(org.id, PatientNamedIn.named(body))
    request = ConsentRequest(
        id=uuid.uuid4(),
        org_id=org.id,
        patient_id=patient_id,
        justification=body["justification"],
        fee_per_use=body["fee_per_use"],
        expires_at=body["expires_at"],
        status="pending",
        valid_from=None,
        valid_until=None,
        max_uses=None,
        exclusions=[],
        created_at=now,
        updated_at=now,
    )
    apply_scope(request, body)
    names = org_names({org.id, *excluded_orgs(request)})
    request.summary = summarise(scope_dict(request), grantee=org.name, org_names=names)
    duplicates.add_unless_pending(request, now=now)
    auditing.audited(request, auditing.FILED, audit.Actor.organisation(org.id), now=now)
    patient = db.session.get(Patient, patient_id)
    if patient is not None and patient.erased_at is None:
        notices.request_received(request, org.name, now=now)
    return request


def _one(statement) -> ConsentRequest:
    request = db.session.scalar(statement)
    if request is None:
        raise NotFound("No consent request with this id.")
    return request


def _filed_by(org: Organisation):
    """The organisation's own requests: not its studies' invitations, which tell it only
    counts (an invitation names a patient who opted in to research)."""
    return (ConsentRequest.org_id == org.id) & ConsentRequest.study_id.is_(None)


def get_for_org(org: Organisation, request_id: uuid.UUID) -> ConsentRequest:
    """Return one of the organisation's own requests (others' are 404)."""
    return _one(select(ConsentRequest).where(ConsentRequest.id == request_id, _filed_by(org)))


def get_for_patient(
    patient: Patient, request_id: uuid.UUID, *, lock: bool = False
) -> ConsentRequest:
    """Return one request addressed to the patient (others' are 404)."""
    statement = select(ConsentRequest).where(
        ConsentRequest.id == request_id, ConsentRequest.patient_id == patient.id
    )
    return _one(statement.with_for_update() if lock else statement)


def _listing(statement, query: dict[str, Any], *, now: datetime):
    status = query.get("status")
    if status == "pending":
        statement = statement.where(
            ConsentRequest.status == "pending", ConsentRequest.expires_at > now
        )
    elif status == "expired":
        statement = statement.where(
            (ConsentRequest.status == "expired")
            | ((ConsentRequest.status == "pending") & (ConsentRequest.expires_at <= now))
        )
    elif status:
        statement = statement.where(ConsentRequest.status == status)
    rows = db.session.scalars(
        pagination.page(
            statement.options(selectinload(ConsentRequest.org)),
            order_column=ConsentRequest.created_at,
            id_column=ConsentRequest.id,
            cursor=query.get("cursor"),
            limit=query["limit"],
        )
    ).all()
    return pagination.envelope(rows, limit=query["limit"], order_attr="created_at")


def list_for_org(org: Organisation, query: dict[str, Any], *, now: datetime):
    """Return a page of the organisation's requests and the next cursor."""
    statement = (
        select(ConsentRequest)
        .where(_filed_by(org))
        # What each approval granted, for the whole page at once.
        .options(selectinload(ConsentRequest.consent).selectinload(Consent.versions))
    )
    return _listing(statement, query, now=now)


def list_for_patient(patient: Patient, query: dict[str, Any], *, now: datetime):
    """Return a page of the requests addressed to the patient and the next cursor; the
    patient has now seen each of them."""
    statement = select(ConsentRequest).where(ConsentRequest.patient_id == patient.id)
    page = _listing(statement.options(selectinload(ConsentRequest.study)), query, now=now)
    _seen(page.items, now=now)
    return page


def read_by_patient(patient: Patient, request_id: uuid.UUID, *, now: datetime) -> ConsentRequest:
    """Return one request addressed to the patient, who has now seen it."""
    request = get_for_patient(patient, request_id)
    _seen([request], now=now)
    return request


def _seen(requests: list[ConsentRequest], *, now: datetime) -> None:
    """Note the patient's first read of each request (a study's sponsor counts who saw)."""
    unseen = [request.id for request in requests if request.seen_at is None]
    if unseen:
        db.session.execute(
            update(ConsentRequest)
            .where(ConsentRequest.id.in_(unseen), ConsentRequest.seen_at.is_(None))
            .values(seen_at=now),
            execution_options={"synchronize_session": False},
        )


def _pending(request: ConsentRequest, *, now: datetime) -> None:
    status = request.effective_status(now)
    if status != "pending":
        raise RequestNotPending(f"This request is {status}.", status_now=status)


def withdraw(org: Organisation, request_id: uuid.UUID, *, now: datetime) -> ConsentRequest:
    """Withdraw a pending request."""
    request = get_for_org(org, request_id)
    _pending(request, now=now)
    request.status, request.decided_at, request.updated_at = "withdrawn", now, now
    db.session.flush()
    auditing.audited(request, auditing.WITHDRAWN, audit.Actor.organisation(org.id), now=now)
    return request


def approve(
    patient: Patient, request_id: uuid.UUID, approval: dict[str, Any], *, now: datetime
) -> Consent:
    """Approve a pending request, narrowed as the patient chose; creates the consent."""
    request = get_for_patient(patient, request_id, lock=True)
    _pending(request, now=now)
    proposed = {
        **scope_dict(request),
        "valid_from": request.valid_from,
        "exclusions": list(request.exclusions),
    }
    final, errors = narrowed_scope(proposed, approval)
    if errors:
        raise ValidationFailed("Approval may narrow the request, never widen it.", errors=errors)
    body = {
        "grantee": {"org_id": request.org_id},
        "data_categories": final["data_categories"],
        "purposes": final["purposes"],
        "actions": final["actions"],
        "data_period": {"start": final["data_period_start"], "end": final["data_period_end"]},
        "valid_from": final["valid_from"],
        "valid_until": final["valid_until"],
        "max_uses": final["max_uses"],
        "exclusions": final["exclusions"],
    }
    consent = consents.create(
        patient, body, now=now, fee_per_use=request.fee_per_use, request_id=request.id
    )
    request.status, request.decided_at, request.updated_at = "approved", now, now
    request.seen_at = request.seen_at or now
    db.session.flush()
    auditing.audited(request, auditing.APPROVED, audit.Actor.patient(patient.id), now=now)
    if request.study_id is None:  # a sponsor is told of the consent granted, never the invitation
        journal.record(
            kinds.REQUEST_APPROVED,
            now=now,
            org_ids=[request.org_id],
            patient_id=patient.id,
            consent_id=consent.id,
            consent_version=consent.version,
            data={"request_id": str(request.id), "consent": state_of(consent, now=now)},
        )
    return consent


def deny(
    patient: Patient, request_id: uuid.UUID, reason: str | None, *, now: datetime
) -> ConsentRequest:
    """Deny a pending request, with an optional reason the organisation will see."""
    request = get_for_patient(patient, request_id, lock=True)
    _pending(request, now=now)
    request.status, request.decided_at, request.updated_at = "denied", now, now
    request.seen_at = request.seen_at or now
    request.decision_reason = reason
    db.session.flush()
    auditing.audited(request, auditing.DENIED, audit.Actor.patient(patient.id), now=now)
    if request.study_id is None:  # a sponsor learns of denied invitations only as a count
        journal.record(
            kinds.REQUEST_DENIED,
            now=now,
            org_ids=[request.org_id],
            patient_id=patient.id,
            data={"request_id": str(request.id), "reason": reason},
        )
    return request
