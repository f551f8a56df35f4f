"""How an organisation names a patient in a request: by the `patient_ref` we gave it, or by
its own identifier of a patient linked to it (`patient_identifier`), exactly one of the two.

Both resolve for the calling organisation only: another organisation's reference, a made-up
one, and an identifier no active link of the caller's carries all get one answer
(`UnknownPatient`), whoever the patient is or whether they exist.
"""

from __future__ import annotations

import uuid
from typing import Any, NamedTuple

from sqlalchemy import bindparam, select, tuple_

from consent_api.links import refs
from consent_api.links.identifiers import PATIENT_REF_SYSTEM, Identifier
from consent_api.links.identifiers import parse as parse_identifier
from consent_api.links.models import LinkIdentifier
from server.db import reads
from server.errors import ValidationFailed

REF, IDENTIFIER = "patient_ref", "patient_identifier"
FIELDS = (REF, IDENTIFIER)
EXACTLY_ONE = "Send exactly one of patient_ref and patient_identifier."
UNKNOWN_REF = "Not a patient reference of yours: use the patient_ref we gave you."
UNLINKED = "No patient is linked to you with this identifier."


class UnknownPatient(ValidationFailed):
    """A reference or identifier that names no patient for the caller (no oracle: the same
    answer for another organisation's reference, a made-up one, an unlinked identifier)."""

    code = "unknown_patient"

    def __init__(self, errors: dict[str, Any]) -> None:
        super().__init__("No patient of yours is named so.", errors=errors)


class Named(NamedTuple):
    """A patient as the request names them: a reference, or an identifier."""

    ref: str | None
    identifier: Identifier | None


def parse(item: dict[str, Any], errors: dict[str, Any]) -> Named | None:
    """Read how a body names its patient, adding field errors to `errors`."""
    ref, raw = item.get(REF), item.get(IDENTIFIER)
    if (ref is None) == (raw is None):
        errors[REF] = [EXACTLY_ONE]
        return None
    if ref is not None:
        if not isinstance(ref, str) or len(ref) != refs.LENGTH:
            errors[REF] = [f"Must be a patient reference ({refs.LENGTH} characters)."]
            return None
        return Named(ref, None)
    identifier, problems = parse_identifier(raw)
    if problems:
        errors[IDENTIFIER] = problems
        return None
    return named(None, identifier)


def named(ref: str | None, identifier: Identifier | None) -> Named:
    """How a request names its patient; an identifier in our reference system is a reference."""
    if identifier is not None and identifier.system == PATIENT_REF_SYSTEM:
        return Named(identifier.value, None)
    return Named(ref, identifier)


_ids = LinkIdentifier.__table__
_BY_IDENTIFIER = select(_ids.c.system, _ids.c.value, _ids.c.patient_id).where(
    _ids.c.org_id == bindparam("org_id"),
    tuple_(_ids.c.system, _ids.c.value).in_(bindparam("keys", expanding=True)),
)


def linked(org_id: uuid.UUID, identifiers: list[Identifier]) -> dict[Identifier, uuid.UUID]:
    """The patients the organisation's identifiers name, through its active links."""
    if not identifiers:
        return {}
    rows = reads.execute(
        _BY_IDENTIFIER, {"org_id": org_id, "keys": [tuple(i) for i in identifiers]}
    ).all()
    return {Identifier(system, value): patient_id for system, value, patient_id in rows}


def resolve(org_id: uuid.UUID, named: Named) -> uuid.UUID:
    """The patient id one request names, or `UnknownPatient`."""
    if named.ref is not None:
        patient_id = refs.decode(org_id, named.ref)
        if patient_id is None:
            raise UnknownPatient({REF: [UNKNOWN_REF]})
        return patient_id
    patient_id = linked(org_id, [named.identifier]).get(named.identifier)
    if patient_id is None:
        raise UnknownPatient({IDENTIFIER: [UNLINKED]})
    return patient_id
