"""Which consents a FHIR reader may see, rendered as that reader may see them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import selectinload

from consent_api.consents.listing import granted_to
from consent_api.consents.models import Consent
from consent_api.consents.schemas import ConsentOut, OrgConsentOut
from consent_api.fhir import render
from consent_api.fhir.schemas import BY_IDENTIFIER, PATIENT
from consent_api.links import identifiers, naming, refs
from consent_api.orgs.models import Organisation
from server.db import db
from server.errors import NotFound, ValidationFailed
from server.http import dump


@dataclass(frozen=True)
class Reader:
    """Who reads: a patient (their own consents), an organisation (the consents granted to
    it, by id or by type), or nobody (sees nothing)."""

    patient_id: uuid.UUID | None = None
    org: Organisation | None = None


def read(reader: Reader, consent_id: uuid.UUID, *, now: datetime) -> dict[str, Any]:
    """Return one consent as a FHIR Consent, or 404 if the reader may not see it."""
    statement = _visible(reader)
    consent = None
    if reader.org is not None:  # an organisation knows every consent by an id of its own
        consent_id = refs.consent_id_shown(reader.org.id, consent_id)
    if statement is not None:
        consent = db.session.scalar(statement.where(Consent.id == consent_id))
    if consent is None:
        # The same answer whether it does not exist or is someone else's: existence leaks too.
        raise NotFound("No consent with this id.")
    return _render([consent], reader, now=now)[0]


def _searched_patient(reader: Reader, query: dict[str, Any]) -> uuid.UUID | None:
    """The patient a search names, as its reader knows them; None when a patient names
    someone else (they see only their own consents: an empty search, not an error)."""
    if reader.org is not None:
        if "patient" in query:
            return naming.resolve(reader.org.id, naming.Named(query["patient"], None))
        system, bar, value = query["identifier"].partition("|")
        identifier, errors = identifiers.parse({"system": system, "value": value})
        if not bar or errors:
            raise ValidationFailed(errors={BY_IDENTIFIER: ["Must be <system>|<value>."]})
        named = naming.named(None, identifier)  # our reference system names a reference
        if named.ref is not None:
            return naming.resolve(reader.org.id, named)
        patient_id = naming.linked(reader.org.id, [identifier]).get(identifier)
        if patient_id is None:
            raise naming.UnknownPatient({BY_IDENTIFIER: [naming.UNLINKED]})
        return patient_id
    if "identifier" in query:
        raise ValidationFailed(errors={BY_IDENTIFIER: ["Only organisations search by it."]})
    try:
        return uuid.UUID(query["patient"])
    except ValueError:
        raise ValidationFailed(errors={PATIENT: ["Not a valid UUID."]}) from None


def search(reader: Reader, query: dict[str, Any], *, now: datetime) -> list[dict[str, Any]]:
    """Return the consents of the searched patient that the reader may see, as FHIR
    Consents, oldest first."""
    statement = _visible(reader)
    if statement is None:
        return []
    patient_id = _searched_patient(reader, query)
    consents_found = db.session.scalars(
        statement.where(Consent.patient_id == patient_id).order_by(Consent.created_at, Consent.id)
    ).all()
    return _render(consents_found, reader, now=now)


def _visible(reader: Reader) -> Select | None:
    visible = select(Consent).options(selectinload(Consent.grantee_org))
    if reader.patient_id is not None:
        return visible.where(Consent.patient_id == reader.patient_id)
    if reader.org is not None:
        # The same predicate as the organisation's own consent list, so the two never differ.
        return visible.where(granted_to(reader.org))
    return None


def _render(found: Sequence[Consent], reader: Reader, *, now: datetime) -> list[dict[str, Any]]:
    if reader.org is not None:
        views = dump(OrgConsentOut(many=True), found, now=now, viewer=reader.org.id)
        patients = [view["patient_ref"] for view in views]
    else:
        views = dump(ConsentOut(many=True), found, now=now)
        patients = [str(consent.patient_id) for consent in found]
    return [
        render.consent_resource(view, patient=patient)
        for view, patient in zip(views, patients, strict=True)
    ]
