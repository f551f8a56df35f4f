"""Link codes and links: the patient makes a code, an organisation redeems it with its own
identifier for the patient, either of them removes the link. Services flush, never commit.

A redemption that fails answers `InvalidLinkCode` whatever the reason (no such code, expired,
used, burned, a wrong secret, made for another organisation), so an organisation learns
nothing from the answer. A wrong secret (or the wrong organisation) against a live code is
counted on the code, which burns after MAX_FAILURES, and the patient is told: that count and
the notice are kept although the answer is an error.
"""

from __future__ import annotations

import hmac
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete, select

from consent_api.links import codes, notices
from consent_api.links.identifiers import Identifier
from consent_api.links.models import LinkCode, LinkIdentifier, PatientLink
from consent_api.orgs.models import Organisation
from consent_api.orgs.types import DATA_ORG_TYPES
from consent_api.patients.models import Patient
from server.db import db, insert_or_skip
from server.errors import Conflict, KeptRefusal, NotFound, ValidationFailed

log = logging.getLogger(__name__)

MAX_FAILURES = 5  # wrong secrets a live code takes before it is burned
HANDLE_TRIES = 8  # fresh handles tried before giving up (a clash needs many live codes)


class InvalidLinkCode(KeptRefusal):
    """One answer for every failed redemption; what it counted on the code stays."""

    status, code = 422, "invalid_link_code"

    def __init__(self) -> None:
        super().__init__(
            "This link code cannot be used: ask the patient for a new one.",
            errors={"code": ["Unknown, expired or already used link code."]},
        )


@dataclass(frozen=True)
class IssuedCode:
    """A new code as the patient sees it, once: the secret is not kept."""

    code: str
    expires_at: datetime
    org: Organisation | None
    created_at: datetime


def _key() -> str:
    return current_app.config["SECRET_KEY"]


def _grantee_org(org_id: uuid.UUID | None) -> Organisation | None:
    if org_id is None:
        return None
    org = db.session.get(Organisation, org_id)
    if org is None or org.type not in DATA_ORG_TYPES or not org.is_active:
        raise ValidationFailed(errors={"org_id": ["No active organisation with this id."]})
    return org


def create_code(patient: Patient, body: dict[str, Any], *, now: datetime) -> IssuedCode:
    """Make a single-use code, valid LINK_CODE_TTL seconds, for any organisation or one."""
    org = _grantee_org(body.get("org_id"))
    expires_at = now + timedelta(seconds=current_app.config["LINK_CODE_TTL"])
    table = LinkCode.__table__
    for _ in range(HANDLE_TRIES):
        handle, secret = codes.new()
        # A handle is reused once its code is spent or out of time.
        db.session.execute(
            delete(LinkCode).where(
                LinkCode.handle == handle,
                (LinkCode.expires_at <= now) | LinkCode.used_at.is_not(None),
            )
        )
        row = {
            "handle": handle,
            "patient_id": patient.id,
            "secret_hash": codes.digest(_key(), handle, secret),
            "org_id": org.id if org else None,
            "created_at": now,
            "expires_at": expires_at,
            "failed_attempts": 0,
        }
        inserted = db.session.execute(
            insert_or_skip(table, "handle").values(row).returning(table.c.handle)
        ).first()
        if inserted is not None:
            return IssuedCode(codes.display(handle, secret), expires_at, org, now)
    raise Conflict("Too many link codes are live; try again in a minute.", code="busy")


def _live(code: LinkCode | None, now: datetime) -> bool:
    return (
        code is not None
        and code.used_at is None
        and code.expires_at > now
        and code.failed_attempts < MAX_FAILURES
    )


def redeem(org: Organisation, body: dict[str, Any], *, now: datetime) -> PatientLink:
    """Link the code's patient to the organisation under its identifier; answer the link."""
    parts = codes.split(body["code"])
    if parts is None:
        raise InvalidLinkCode()
    handle, secret = parts
    code = db.session.scalar(select(LinkCode).where(LinkCode.handle == handle).with_for_update())
    if not _live(code, now):
        log.info("link code refused (not live) for org %s", org.id)
        raise InvalidLinkCode()
    right_secret = hmac.compare_digest(code.secret_hash, codes.digest(_key(), handle, secret))
    foreign = right_secret and code.org_id is not None and code.org_id != org.id
    if not right_secret or foreign:
        # Either is a code in the wrong hands: it counts, and five burn it.
        code.failed_attempts += 1
        db.session.flush()
        burned = code.failed_attempts >= MAX_FAILURES
        made_for = db.session.get(Organisation, code.org_id).name if foreign else None
        notices.code_failed(code, org.name, made_for=made_for, burned=burned, now=now)
        log.warning(
            "link code %s: failed redemption %d by org %s", handle, code.failed_attempts, org.id
        )
        raise InvalidLinkCode()
    identifier = Identifier(body["identifier"]["system"], body["identifier"]["value"])
    link = PatientLink(
        patient_id=code.patient_id,
        id=uuid.uuid4(),
        org_id=org.id,
        system=identifier.system,
        value=identifier.value,
        created_at=now,
    )
    db.session.add(link)
    db.session.flush()
    claimed = db.session.execute(
        insert_or_skip(LinkIdentifier.__table__, "org_id", "system", "value")
        .values(
            org_id=org.id,
            system=identifier.system,
            value=identifier.value,
            patient_id=link.patient_id,
            link_id=link.id,
        )
        .returning(LinkIdentifier.__table__.c.link_id)
    ).first()
    if claimed is None:  # the whole redemption rolls back: the code stays usable
        raise Conflict(
            "You already link a patient with this identifier.",
            code="identifier_in_use",
            errors={"identifier": ["Already linked to a patient of yours."]},
        )
    code.used_at, code.link_id = now, link.id
    db.session.flush()
    notices.linked(link, org.name, now=now)
    log.info("link %s made by org %s", link.id, org.id)
    return link


def active_links(patient: Patient) -> list[PatientLink]:
    """The patient's active links, oldest first."""
    return list(
        db.session.scalars(
            select(PatientLink)
            .where(PatientLink.patient_id == patient.id, PatientLink.removed_at.is_(None))
            .order_by(PatientLink.created_at, PatientLink.id)
        )
    )


def _remove(link: PatientLink, *, by: str, now: datetime) -> None:
    db.session.execute(delete(LinkIdentifier).where(LinkIdentifier.link_id == link.id))
    link.removed_at, link.removed_by = now, by
    db.session.flush()
    notices.unlinked(link, link.org.name, by_patient=by == "patient", now=now)
    log.info("link %s removed by %s", link.id, by)


def remove_for_patient(patient: Patient, link_id: uuid.UUID, *, now: datetime) -> None:
    """The patient removes one of their links."""
    link = db.session.get(PatientLink, (patient.id, link_id), with_for_update=True)
    if link is None or link.removed_at is not None:
        raise NotFound("No such link.")
    _remove(link, by="patient", now=now)


def remove_for_org(org: Organisation, link_id: uuid.UUID, *, now: datetime) -> None:
    """The organisation removes one of its links (a wrong identifier, a merged record)."""
    link = db.session.scalar(
        select(PatientLink)
        .where(PatientLink.id == link_id, PatientLink.org_id == org.id)
        .with_for_update()
    )
    if link is None or link.removed_at is not None:
        raise NotFound("No such link.")
    _remove(link, by="organisation", now=now)


def purge_codes(*, now: datetime, older_than: timedelta = timedelta(days=1)) -> int:
    """Delete codes that ended (spent or out of time) more than `older_than` ago."""
    result = db.session.execute(delete(LinkCode).where(LinkCode.expires_at < now - older_than))
    return result.rowcount or 0


def forget(patient_id: uuid.UUID) -> None:
    """Erasure: the identifiers organisations knew the patient by go, with the codes."""
    db.session.execute(delete(LinkIdentifier).where(LinkIdentifier.patient_id == patient_id))
    db.session.execute(delete(PatientLink).where(PatientLink.patient_id == patient_id))
    db.session.execute(delete(LinkCode).where(LinkCode.patient_id == patient_id))
