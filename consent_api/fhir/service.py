"""Which consents a FHIR reader may see, rendered as that reader may see them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Select, and_, false, func, not_, or_, select
from sqlalchemy.orm import selectinload

from consent_api.consents.listing import granted_to
from consent_api.consents.models import Consent, ConsentVersion
from consent_api.consents.schemas import ConsentOut, OrgConsentOut
from consent_api.fhir import dates, render
from consent_api.fhir.schemas import BY_IDENTIFIER, DEFAULT_COUNT, PATIENT
from consent_api.links import identifiers, naming, refs
from consent_api.orgs.models import Organisation
from server import pagination
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
    visible = _visibility(reader)
    consent = None
    if reader.org is not None:  # an organisation knows every consent by an id of its own
        consent_id = refs.consent_id_shown(reader.org.id, consent_id)
    if visible is not None:
        consent = db.session.scalar(_consents(visible, Consent.id == consent_id))
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
            try:
                return naming.resolve(reader.org.id, naming.Named(query["patient"], None))
            except naming.UnknownPatient as unknown:  # named by this search's parameter
                raise naming.UnknownPatient({PATIENT: unknown.errors[naming.REF]}) from unknown
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


class Found(NamedTuple):
    """A page of search matches, as FHIR Consents; the cursor of the next page (None on the
    last); how many match in all."""

    resources: list[dict[str, Any]]
    next_cursor: str | None
    total: int


def search(reader: Reader, query: dict[str, Any], *, now: datetime) -> Found:
    """Return a page of the searched patient's consents that the reader may see and that
    match the search, as FHIR Consents, oldest first."""
    visible = _visibility(reader)
    if visible is None:
        return Found([], None, 0)
    patient_id = _searched_patient(reader, query)
    criteria = [visible, Consent.patient_id == patient_id, *_matching(query, now=now)]
    total = db.session.scalar(select(func.count(Consent.id)).where(*criteria))
    limit = query.get("count", DEFAULT_COUNT)
    rows = db.session.scalars(
        pagination.page(
            _consents(*criteria),
            order_column=Consent.created_at,
            id_column=Consent.id,
            cursor=query.get("cursor"),
            limit=limit,
        )
    ).all()
    page = pagination.envelope(rows, limit=limit, order_attr="created_at")
    return Found(_render(page.items, reader, now=now), page.next_cursor, total)


def _matching(query: dict[str, Any], *, now: datetime) -> list[ColumnElement[bool]]:
    """The search's own criteria: any of the statuses, every _lastUpdated."""
    criteria = []
    if "status" in query:
        in_force = and_(
            Consent.status == "active",
            or_(Consent.valid_until.is_(None), Consent.valid_until > now),
        )
        # Our states as FHIR's: in force is active; paused, revoked, expired are inactive.
        by_state = {"active": in_force, "inactive": not_(in_force)}
        criteria.append(or_(false(), *(by_state[s] for s in query["status"] if s in by_state)))
    for value in query.get("last_updated", []):
        criteria.append(_updated(value))
    return criteria


def _updated(value: dates.DateSearch) -> ColumnElement[bool]:
    """Consent.updated_at (meta.lastUpdated) against a date value, as dates says."""
    at = Consent.updated_at
    return {
        "eq": and_(at >= value.lo, at < value.hi),
        "ge": at >= value.lo,
        "gt": at >= value.hi,
        "le": at < value.hi,
        "lt": at < value.lo,
    }[value.prefix]


def _visibility(reader: Reader) -> ColumnElement[bool] | None:
    """Which consents the reader may see, or None for nobody."""
    if reader.patient_id is not None:
        return Consent.patient_id == reader.patient_id
    if reader.org is not None:
        # The same predicate as the organisation's own consent list, so the two never differ.
        return granted_to(reader.org)
    return None


def _consents(*criteria: ColumnElement[bool]) -> Select:
    return select(Consent).options(selectinload(Consent.grantee_org)).where(*criteria)


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
