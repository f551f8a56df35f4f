"""Which consents a FHIR reader may see, rendered as that reader may see them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import selectinload

from consent_api.consents.listing import granted_to
from consent_api.consents.models import Consent, ConsentVersion
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


def _find(reader: Reader, consent_id: uuid.UUID) -> Consent:
    """The consent the reader names (an organisation by its own id of it), or 404 if the
    reader may not see it."""
    statement = _visible(reader)
    consent = None
    if reader.org is not None:  # an organisation knows every consent by an id of its own
        consent_id = refs.consent_id_shown(reader.org.id, consent_id)
    if statement is not None:
        consent = db.session.scalar(statement.where(Consent.id == consent_id))
    if consent is None:
        # The same answer whether it does not exist or is someone else's: existence leaks too.
        raise NotFound("No consent with this id.")
    return consent


def read(reader: Reader, consent_id: uuid.UUID, *, now: datetime) -> dict[str, Any]:
    """Return one consent as a FHIR Consent, or 404 if the reader may not see it."""
    return _render([_find(reader, consent_id)], reader, now=now)[0]


def history(reader: Reader, consent_id: uuid.UUID, *, now: datetime) -> list[dict[str, Any]]:
    """Return every version of a consent the reader may see, newest first, as FHIR Consents.

    A reader sees every version of a consent it may read: the grantee never changes, so
    each version applied to the organisation that reads it now. The current version is the
    read (its status as of `now`: an expiry not yet swept shows); older ones are rendered
    from the versions kept exactly as they were, seen as the reader sees the consent."""
    consent = _find(reader, consent_id)
    current = _render([consent], reader, now=now)[0]
    older = [v for v in reversed(consent.versions) if v.version < consent.version]
    return [current, *(_render_kept(v, consent, reader, now=now) for v in older)]


def version(
    reader: Reader, consent_id: uuid.UUID, version_id: int, *, now: datetime
) -> dict[str, Any]:
    """Return one version of a consent the reader may see, as a FHIR Consent, or 404."""
    found = [
        r for r in history(reader, consent_id, now=now) if r["meta"]["versionId"] == str(version_id)
    ]
    if not found:
        raise NotFound("No such version of this consent.")
    return found[0]


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


# What an organisation's view changes in a kept version: the consent's id and the patient
# as it knows them, and only the exclusions that are its business (the schema's own rules).
_ORG_SHOWN = OrgConsentOut(only=("id", "patient_ref", "exclusions"))


def _render_kept(
    kept: ConsentVersion, consent: Consent, reader: Reader, *, now: datetime
) -> dict[str, Any]:
    """Render a kept version (the patient's view of the consent then) for the reader."""
    if reader.org is None:
        return render.consent_resource(kept.snapshot, patient=str(consent.patient_id))
    shown = dump(
        _ORG_SHOWN,
        SimpleNamespace(
            id=consent.id, patient_id=consent.patient_id, exclusions=kept.snapshot["exclusions"]
        ),
        now=now,
        viewer=reader.org.id,
    )
    return render.consent_resource({**kept.snapshot, **shown}, patient=shown["patient_ref"])


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
