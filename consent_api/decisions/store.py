"""Read the candidate consents for a set of patients and one organisation: one query per
5,000 patients, SQLAlchemy Core on the request's autocommit read connection.

This is the hot path of every check, so it is written for speed (measured with `make bench`):
the query is answered from one covering index (ix_consents_decision) by patient, the grantee
test filtering inside it; JSON columns arrive as text and are parsed through caches, since the
same scopes recur across many consents.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import Text, Uuid, and_, any_, bindparam, cast, or_, select, tuple_
from sqlalchemy.dialects import postgresql

from consent_api.consents.models import Consent
from consent_api.decisions.decide import ConsentTerms, Exclusion
from consent_api.links.identifiers import Identifier
from consent_api.links.models import LinkIdentifier
from consent_api.orgs.values import Org
from server.db import db, reads

CHUNK = 5_000  # well under SQLite's and psycopg's bound-parameter limits

_consents = Consent.__table__
COLUMNS = (
    _consents.c.patient_id,
    _consents.c.grantee_org_id,
    _consents.c.grantee_org_type,
    _consents.c.id,
    _consents.c.version,
    _consents.c.status,
    cast(_consents.c.data_categories, Text).label("data_categories"),
    cast(_consents.c.purposes, Text).label("purposes"),
    cast(_consents.c.actions, Text).label("actions"),
    _consents.c.valid_from,
    _consents.c.valid_until,
    _consents.c.data_period_start,
    _consents.c.data_period_end,
    _consents.c.max_uses,
    _consents.c.use_count,
    cast(_consents.c.exclusions, Text).label("exclusions"),
)
GRANTED = or_(
    _consents.c.grantee_org_id == bindparam("org_id"),
    _consents.c.grantee_org_type == bindparam("org_type"),
)
# PostgreSQL takes the ids as one array parameter: one statement text for every batch size,
# instead of re-rendering an IN list of up to 5,000 placeholders per call.
_BY_ARRAY = select(*COLUMNS).where(
    _consents.c.patient_id == any_(bindparam("patient_ids", type_=postgresql.ARRAY(Uuid))),
    GRANTED,
)
_BY_LIST = select(*COLUMNS).where(
    _consents.c.patient_id.in_(bindparam("patient_ids", expanding=True)), GRANTED
)


# An organisation's identifiers of linked patients, with those patients' candidate consents,
# in one statement: a row per consent, or one with no consent (NULLs) for a linked patient
# who has none; an identifier with no row is linked to nobody.
_ids = LinkIdentifier.__table__
_BY_IDENTIFIER = (
    select(_ids.c.system, _ids.c.value, *COLUMNS)
    .select_from(
        _ids.outerjoin(_consents, and_(_consents.c.patient_id == _ids.c.patient_id, GRANTED))
    )
    .where(
        _ids.c.org_id == bindparam("org_id"),
        tuple_(_ids.c.system, _ids.c.value).in_(bindparam("keys", expanding=True)),
    )
)
IDENTIFIER_CHUNK = 2_500  # two parameters each


@functools.lru_cache(maxsize=8192)
def _codes(raw: str) -> frozenset[str]:
    return frozenset(json.loads(raw))


@functools.lru_cache(maxsize=4096)
def exclusions(raw: str | None) -> tuple[Exclusion, ...]:
    """Decision exclusions from a consent's stored exclusions (JSON text), cached."""
    return tuple(
        Exclusion(
            data_categories=frozenset(e.get("data_categories") or ()),
            purposes=frozenset(e.get("purposes") or ()),
            org_ids=frozenset(uuid.UUID(o) for o in e.get("org_ids") or ()),
        )
        for e in json.loads(raw or "[]")
    )


def terms(row) -> ConsentTerms:
    """Decision terms from a row of COLUMNS."""
    # Positional unpacking: by-name access on a Row costs a key look-up per column, and a
    # 10,000-check batch builds thousands of these.
    (
        _patient_id,
        grantee_org_id,
        grantee_org_type,
        consent_id,
        version,
        status,
        categories,
        purposes,
        actions,
        valid_from,
        valid_until,
        period_start,
        period_end,
        max_uses,
        use_count,
        exclusions_text,
        *_,
    ) = row
    return ConsentTerms(
        consent_id,
        version,
        status,
        grantee_org_id,
        grantee_org_type,
        _codes(categories),
        _codes(purposes),
        _codes(actions),
        valid_from,
        valid_until,
        period_start,
        period_end,
        max_uses,
        use_count,
        exclusions(exclusions_text),
    )


def candidates(patient_ids: Iterable[uuid.UUID], org: Org) -> dict[uuid.UUID, list[ConsentTerms]]:
    """Return, per patient, the consents naming `org` by id or by type."""
    wanted = list(dict.fromkeys(patient_ids))
    found: dict[uuid.UUID, list[ConsentTerms]] = defaultdict(list)
    query = _BY_ARRAY if db.engine.dialect.name == "postgresql" else _BY_LIST
    for start in range(0, len(wanted), CHUNK):
        rows = reads.execute(
            query,
            {"patient_ids": wanted[start : start + CHUNK], "org_id": org.id, "org_type": org.type},
        ).all()
        for row in rows:
            found[row[0]].append(terms(row))
    return found


def candidates_by_identifier(
    identifiers: Iterable[Identifier], org: Org
) -> dict[Identifier, list[ConsentTerms]]:
    """Return, per identifier the organisation links, its patient's consents naming `org` by
    id or by type; identifiers it does not link are absent."""
    wanted = list(dict.fromkeys(identifiers))
    found: dict[Identifier, list[ConsentTerms]] = {}
    for start in range(0, len(wanted), IDENTIFIER_CHUNK):
        keys = [tuple(i) for i in wanted[start : start + IDENTIFIER_CHUNK]]
        rows = reads.execute(
            _BY_IDENTIFIER, {"keys": keys, "org_id": org.id, "org_type": org.type}
        ).all()
        for row in rows:
            consents = found.setdefault(Identifier(row[0], row[1]), [])
            if row[5] is not None:  # the consent's id: NULL when the patient has none
                consents.append(terms(row[2:]))
    return found
