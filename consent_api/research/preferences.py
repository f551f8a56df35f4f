"""Research preferences: read, replace, and count who accepts a scope. Services flush."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import func, select

from consent_api.research import codes
from consent_api.research.models import ResearchPreference
from consent_api.research.schemas import DEFAULT_MAX_PER_MONTH, LISTS
from server.db import db, locked_row
from server.errors import ValidationFailed


class Preferences(NamedTuple):
    """A patient's preferences as codes (what the API shows)."""

    opted_in: bool
    purposes: list[str]
    data_categories: list[str]
    org_types: list[str]
    max_invitations_per_month: int
    updated_at: datetime | None


NONE_SET = Preferences(False, [], [], [], DEFAULT_MAX_PER_MONTH, None)


def _shown(row: ResearchPreference) -> Preferences:
    return Preferences(
        row.opted_in,
        codes.unmask(row.purposes_mask, codes.PURPOSES),
        codes.unmask(row.categories_mask, codes.DATA_CATEGORIES),
        codes.unmask(row.org_types_mask, codes.ORG_TYPES),
        row.max_invitations_per_month,
        row.updated_at,
    )


def get(patient_id: uuid.UUID) -> Preferences:
    """The patient's preferences; opted out, accepting nothing, until they set them."""
    row = db.session.get(ResearchPreference, patient_id)
    return NONE_SET if row is None else _shown(row)


def replace(patient_id: uuid.UUID, body: dict[str, Any], *, now: datetime) -> Preferences:
    """Opt in or out, with the lists and cap given (those left out stay as they were).
    Opted in, the patient accepts at least one code of each kind. Opting out stops
    invitations at once, since invitations read `opted_in` when they are sent."""
    row = locked_row(
        ResearchPreference,
        {"patient_id": patient_id},
        created_with={
            "opted_in": False,
            "purposes_mask": 0,
            "categories_mask": 0,
            "org_types_mask": 0,
            "max_invitations_per_month": NONE_SET.max_invitations_per_month,
            "created_at": now,
            "updated_at": now,
        },
    )
    chosen = _shown(row)._replace(**body)
    if chosen.opted_in:
        empty = [name for name in LISTS if not getattr(chosen, name)]
        if empty:
            raise ValidationFailed(
                errors={name: ["Name at least one to opt in."] for name in empty}
            )
    row.opted_in = chosen.opted_in
    row.purposes_mask = codes.mask(chosen.purposes, codes.PURPOSES)
    row.categories_mask = codes.mask(chosen.data_categories, codes.DATA_CATEGORIES)
    row.org_types_mask = codes.mask(chosen.org_types, codes.ORG_TYPES)
    row.max_invitations_per_month = chosen.max_invitations_per_month
    row.updated_at = now
    db.session.flush()
    return _shown(row)


def _accepting(column, wanted: int):
    return column.op("&")(wanted) == wanted


def accepts(*, data_categories: Sequence[str], purposes: Sequence[str], org_type: str) -> list:
    """The conditions on a preference row that accepts being invited for every one of these
    purposes and data categories, by this kind of organisation (opted in, each mask
    covering the codes wanted)."""
    rp = ResearchPreference
    return [
        rp.opted_in.is_(True),
        _accepting(rp.purposes_mask, codes.mask(purposes, codes.PURPOSES)),
        _accepting(rp.categories_mask, codes.mask(data_categories, codes.DATA_CATEGORIES)),
        _accepting(rp.org_types_mask, codes.mask([org_type], codes.ORG_TYPES)),
    ]


def count_opted_in(
    *, data_categories: Sequence[str], purposes: Sequence[str], org_type: str
) -> int:
    """How many opted-in patients accept every one of these purposes and data categories,
    from this kind of organisation (one pass over the opted-in rows, in SQL)."""
    wanted = accepts(data_categories=data_categories, purposes=purposes, org_type=org_type)
    return db.session.scalar(select(func.count()).where(*wanted))


def forget(patient_id: uuid.UUID) -> None:
    """Erasure: the preferences go (an erased patient is invited to nothing)."""
    row = db.session.get(ResearchPreference, patient_id)
    if row is not None:
        db.session.delete(row)
        db.session.flush()
