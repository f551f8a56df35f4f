"""Read the candidate consents for a set of patients and one organisation: one query per
5,000 patients, SQLAlchemy Core on the request's autocommit read connection."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import bindparam, or_, select

from consent_api.consents.models import Consent
from consent_api.decisions.decide import ConsentTerms, Exclusion, Org
from server.db import reads

CHUNK = 5_000  # well under SQLite's and psycopg's bound-parameter limits

_consents = Consent.__table__
_CANDIDATES = select(
    _consents.c.patient_id,
    _consents.c.id,
    _consents.c.version,
    _consents.c.status,
    _consents.c.grantee_org_id,
    _consents.c.grantee_org_type,
    _consents.c.data_categories,
    _consents.c.purposes,
    _consents.c.actions,
    _consents.c.valid_from,
    _consents.c.valid_until,
    _consents.c.data_period_start,
    _consents.c.data_period_end,
    _consents.c.max_uses,
    _consents.c.use_count,
    _consents.c.exclusions,
).where(
    _consents.c.patient_id.in_(bindparam("patient_ids", expanding=True)),
    or_(
        _consents.c.grantee_org_id == bindparam("org_id"),
        _consents.c.grantee_org_type == bindparam("org_type"),
    ),
)


def _exclusion(raw: dict) -> Exclusion:
    return Exclusion(
        data_categories=frozenset(raw.get("data_categories") or ()),
        purposes=frozenset(raw.get("purposes") or ()),
        org_ids=frozenset(uuid.UUID(o) for o in raw.get("org_ids") or ()),
    )


def _terms(row) -> ConsentTerms:
    return ConsentTerms(
        id=row.id,
        version=row.version,
        status=row.status,
        grantee_org_id=row.grantee_org_id,
        grantee_org_type=row.grantee_org_type,
        data_categories=frozenset(row.data_categories),
        purposes=frozenset(row.purposes),
        actions=frozenset(row.actions),
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        data_period_start=row.data_period_start,
        data_period_end=row.data_period_end,
        max_uses=row.max_uses,
        use_count=row.use_count,
        exclusions=tuple(_exclusion(e) for e in row.exclusions or ()),
    )


def candidates(patient_ids: Iterable[uuid.UUID], org: Org) -> dict[uuid.UUID, list[ConsentTerms]]:
    """Return, per patient, the consents naming `org` by id or by type."""
    wanted = list(dict.fromkeys(patient_ids))
    found: dict[uuid.UUID, list[ConsentTerms]] = defaultdict(list)
    connection = reads.get()
    for start in range(0, len(wanted), CHUNK):
        rows = connection.execute(
            _CANDIDATES,
            {
                "patient_ids": wanted[start : start + CHUNK],
                "org_id": org.id,
                "org_type": org.type,
            },
        )
        for row in rows:
            found[row.patient_id].append(_terms(row))
    return found
