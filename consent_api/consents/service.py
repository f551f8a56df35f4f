"""The patient's consents: grant, list, amend, pause, resume, revoke. Services flush only."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, or_, select

from consent_api import catalog
from consent_api.consents.models import Consent, ConsentVersion
from consent_api.consents.summary import grantee_phrase, summarise
from consent_api.orgs.models import Organisation
from consent_api.patients.models import Patient
from server import pagination
from server.db import db
from server.errors import Conflict, NotFound, ValidationFailed

SCOPE_FIELDS = (
    "data_categories",
    "purposes",
    "actions",
    "data_period",
    "valid_from",
    "valid_until",
    "max_uses",
    "exclusions",
)


class ConsentClosed(Conflict):
    """The consent is revoked or expired: it can no longer change."""

    code = "consent_closed"


# --- presenting ------------------------------------------------------------------------


def org_names(ids: Iterable[Any]) -> dict[str, str]:
    """Return {str(org id): name} for the given ids, in one query."""
    wanted = {uuid.UUID(str(i)) for i in ids if i}
    if not wanted:
        return {}
    rows = db.session.execute(
        select(Organisation.id, Organisation.name).where(Organisation.id.in_(wanted))
    )
    return {str(org_id): name for org_id, name in rows}


def _referenced_orgs(consent: Consent) -> set[Any]:
    ids = {consent.grantee_org_id}
    for exclusion in consent.exclusions or []:
        ids.update(exclusion.get("org_ids") or [])
    return ids


def present(consent: Consent, *, now: datetime, names: dict[str, str] | None = None) -> dict:
    """Return the consent as the patient's JSON view (also the shape each version keeps)."""
    names = names if names is not None else org_names(_referenced_orgs(consent))
    period = None
    if consent.data_period_start or consent.data_period_end:
        period = {"start": consent.data_period_start, "end": consent.data_period_end}
    return {
        "id": consent.id,
        "grantee": {
            "org_id": consent.grantee_org_id,
            "org_type": consent.grantee_org_type,
            "org_name": names.get(str(consent.grantee_org_id)) if consent.grantee_org_id else None,
        },
        "data_categories": list(consent.data_categories),
        "purposes": list(consent.purposes),
        "actions": list(consent.actions),
        "data_period": period,
        "valid_from": consent.valid_from,
        "valid_until": consent.valid_until,
        "max_uses": consent.max_uses,
        "use_count": consent.use_count,
        "exclusions": [
            {
                "data_categories": list(e.get("data_categories") or []),
                "purposes": list(e.get("purposes") or []),
                "org_ids": [str(o) for o in e.get("org_ids") or []],
            }
            for e in consent.exclusions or []
        ],
        "fee_per_use": consent.fee_per_use,
        "summary": consent.summary,
        "status": consent.effective_status(now),
        "version": consent.version,
        "request_id": consent.request_id,
        "revoked_at": consent.revoked_at,
        "revoke_reason": consent.revoke_reason,
        "created_at": consent.created_at,
        "updated_at": consent.updated_at,
    }


def present_many(consents: Iterable[Consent], *, now: datetime) -> list[dict]:
    """Present several consents with one organisation-name query for all of them."""
    consents = list(consents)
    names = org_names({org for c in consents for org in _referenced_orgs(c)})
    return [present(c, now=now, names=names) for c in consents]


def _snapshot(consent: Consent, *, now: datetime) -> dict:
    from consent_api.consents.schemas import ConsentOut

    # JSON-ready, so the stored version reads back exactly as it was shown.
    return ConsentOut().dump(present(consent, now=now))


def _record_version(consent: Consent, change: str, *, now: datetime) -> None:
    db.session.add(
        ConsentVersion(
            consent_id=consent.id,
            version=consent.version,
            change=change,
            snapshot=_snapshot(consent, now=now),
            created_at=now,
        )
    )


# --- validation shared with consent requests ---------------------------------------------


def normalise_exclusions(exclusions: list[dict] | None) -> list[dict]:
    """Store exclusions with string ids and only the dimensions given."""
    stored = []
    for exclusion in exclusions or []:
        stored.append(
            {
                key: [str(v) for v in exclusion[key]]
                for key in ("data_categories", "purposes", "org_ids")
                if exclusion.get(key)
            }
        )
    return stored


def check_orgs_exist(scope: dict[str, Any], grantee_org_id: uuid.UUID | None) -> None:
    """Raise 422 naming the field when an organisation referenced does not exist."""
    errors: dict[str, list[str]] = {}
    if grantee_org_id is not None and db.session.get(Organisation, grantee_org_id) is None:
        errors["grantee"] = ["No organisation with this org_id."]
    excluded = {o for e in scope.get("exclusions") or [] for o in e.get("org_ids") or []}
    if excluded:
        found = set(
            db.session.scalars(select(Organisation.id).where(Organisation.id.in_(excluded)))
        )
        if excluded - found:
            errors["exclusions"] = ["An excluded org_id does not exist."]
    if errors:
        raise ValidationFailed(errors=errors)


def check_still_valid(scope: dict[str, Any], *, now: datetime) -> None:
    """A validity that has already ended is an error, not an instantly expired consent."""
    if scope.get("valid_until") is not None and scope["valid_until"] <= now:
        raise ValidationFailed(errors={"valid_until": ["Must be in the future."]})


def apply_scope(target: Any, scope: dict[str, Any]) -> None:
    """Copy validated scope fields onto a Consent or ConsentRequest."""
    for key in ("data_categories", "purposes", "actions", "max_uses", "valid_until"):
        if key in scope:
            setattr(target, key, scope[key])
    if "valid_from" in scope and scope["valid_from"] is not None:
        target.valid_from = scope["valid_from"]
    if "data_period" in scope:
        period = scope["data_period"] or {}
        target.data_period_start = period.get("start")
        target.data_period_end = period.get("end")
    if "exclusions" in scope:
        target.exclusions = normalise_exclusions(scope["exclusions"])


def scope_dict(target: Any) -> dict[str, Any]:
    """Return the scope fields of a Consent or ConsentRequest, as summarise() reads them."""
    return {
        "data_categories": target.data_categories,
        "purposes": target.purposes,
        "actions": target.actions,
        "data_period_start": target.data_period_start,
        "data_period_end": target.data_period_end,
        "valid_until": target.valid_until,
        "max_uses": target.max_uses,
        "exclusions": target.exclusions,
        "fee_per_use": target.fee_per_use,
    }


def write_summary(consent: Consent) -> None:
    """Regenerate the consent's plain-language summary from its current terms."""
    names = org_names(_referenced_orgs(consent))
    grantee = grantee_phrase(
        org_name=names.get(str(consent.grantee_org_id)), org_type=consent.grantee_org_type
    )
    consent.summary = summarise(scope_dict(consent), grantee=grantee, org_names=names)


# --- the patient's operations ------------------------------------------------------------


def create(
    patient: Patient,
    body: dict[str, Any],
    *,
    now: datetime,
    fee_per_use: int = 0,
    request_id: uuid.UUID | None = None,
) -> Consent:
    """Grant a consent; version 1 is recorded with it."""
    grantee = body["grantee"]
    check_orgs_exist(body, grantee.get("org_id"))
    check_still_valid(body, now=now)
    consent = Consent(
        id=uuid.uuid4(),
        patient_id=patient.id,
        grantee_org_id=grantee.get("org_id"),
        grantee_org_type=grantee.get("org_type"),
        valid_from=now,
        valid_until=None,
        max_uses=None,
        exclusions=[],
        use_count=0,
        fee_per_use=fee_per_use,
        status="active",
        version=1,
        request_id=request_id,
        created_at=now,
        updated_at=now,
    )
    apply_scope(consent, body)
    write_summary(consent)
    db.session.add(consent)
    db.session.flush()
    _record_version(consent, "created", now=now)
    db.session.flush()
    return consent


def _owned(patient: Patient, consent_id: uuid.UUID, *, lock: bool = False) -> Consent:
    statement = select(Consent).where(Consent.id == consent_id, Consent.patient_id == patient.id)
    if lock:
        statement = statement.with_for_update()
    consent = db.session.scalar(statement)
    if consent is None:
        raise NotFound("No consent with this id.")
    return consent


def get(patient: Patient, consent_id: uuid.UUID) -> Consent:
    """Return one of the patient's consents, or 404 (also for other patients' consents)."""
    return _owned(patient, consent_id)


def versions(consent: Consent) -> list[ConsentVersion]:
    """Return every version of a consent, oldest first."""
    return list(
        db.session.scalars(
            select(ConsentVersion)
            .where(ConsentVersion.consent_id == consent.id)
            .order_by(ConsentVersion.version)
        )
    )


def filtered(statement: Select, query: dict[str, Any], *, now: datetime) -> Select:
    status = query.get("status")
    not_yet_expired = or_(Consent.valid_until.is_(None), Consent.valid_until > now)
    if status == "active":
        statement = statement.where(Consent.status == "active", not_yet_expired)
    elif status == "expired":
        statement = statement.where(
            or_(
                Consent.status == "expired",
                (Consent.status == "active") & ~not_yet_expired,
            )
        )
    elif status:
        statement = statement.where(Consent.status == status)
    if query.get("org_id"):
        statement = statement.where(Consent.grantee_org_id == query["org_id"])
    return statement


def matcher(query: dict[str, Any]) -> Callable[[Consent], bool]:
    """Return a predicate for the category and purpose filters.

    JSON arrays are matched in Python, the same way on SQLite and PostgreSQL; a category
    filter also finds grants of `all` that cover it (never a sensitive one).
    """
    category, purpose = query.get("data_category"), query.get("purpose")

    def keep(consent: Consent) -> bool:
        if category and not catalog.covers(frozenset(consent.data_categories), category):
            return False
        return not purpose or purpose in consent.purposes

    return keep


def list_for_patient(
    patient: Patient, query: dict[str, Any], *, now: datetime
) -> tuple[list[Consent], str | None]:
    """Return a page of the patient's consents (oldest first) and the next cursor."""
    statement = filtered(select(Consent).where(Consent.patient_id == patient.id), query, now=now)
    return pagination.scan(
        db.session,
        statement,
        order_column=Consent.created_at,
        id_column=Consent.id,
        order_attr="created_at",
        cursor=query.get("cursor"),
        limit=query["limit"],
        keep=matcher(query),
    )


def _modifiable(consent: Consent, *, now: datetime) -> None:
    status = consent.effective_status(now)
    if status in ("revoked", "expired"):
        raise ConsentClosed(f"This consent is {status}; grant a new one instead.")


def _bump(consent: Consent, change: str, *, now: datetime) -> Consent:
    consent.version += 1
    consent.updated_at = now
    write_summary(consent)
    db.session.flush()
    _record_version(consent, change, now=now)
    db.session.flush()
    return consent


def amend(patient: Patient, consent_id: uuid.UUID, changes: dict, *, now: datetime) -> Consent:
    """Change a consent's terms; the new version is recorded, the old ones stay readable."""
    consent = _owned(patient, consent_id, lock=True)
    _modifiable(consent, now=now)
    if not changes:
        raise ValidationFailed(errors={"_schema": ["Send at least one field to change."]})
    check_orgs_exist(changes, None)
    check_still_valid(changes, now=now)
    apply_scope(consent, changes)
    if consent.valid_until is not None and consent.valid_until <= consent.valid_from:
        raise ValidationFailed(errors={"valid_until": ["Must be after valid_from."]})
    return _bump(consent, "amended", now=now)


def pause(patient: Patient, consent_id: uuid.UUID, *, now: datetime) -> Consent:
    """Suspend a consent; checks deny with `paused` until it is resumed."""
    consent = _owned(patient, consent_id, lock=True)
    _modifiable(consent, now=now)
    if consent.status == "paused":
        return consent
    consent.status = "paused"
    return _bump(consent, "paused", now=now)


def resume(patient: Patient, consent_id: uuid.UUID, *, now: datetime) -> Consent:
    """Lift a pause."""
    consent = _owned(patient, consent_id, lock=True)
    _modifiable(consent, now=now)
    if consent.status == "active":
        return consent
    consent.status = "active"
    return _bump(consent, "resumed", now=now)


def _revoke(consent: Consent, reason: str | None, *, now: datetime) -> Consent:
    consent.status = "revoked"
    consent.revoked_at = now
    consent.revoke_reason = reason
    return _bump(consent, "revoked", now=now)


def revoke(
    patient: Patient, consent_id: uuid.UUID, reason: str | None, *, now: datetime
) -> Consent:
    """Withdraw a consent for good; the next check, in any process, denies."""
    consent = _owned(patient, consent_id, lock=True)
    if consent.status == "revoked":
        return consent
    _revoke(consent, reason, now=now)
    _confirm_revoked(patient, [consent], now=now)
    return consent


def _confirm_revoked(patient: Patient, changed: list[Consent], *, now: datetime) -> None:
    from notifications import notices

    names = org_names({c.grantee_org_id for c in changed if c.grantee_org_id})
    notices.consents_revoked(patient.id, changed, names, now=now)


def revoke_all_for_org(
    patient: Patient, org_id: uuid.UUID, reason: str | None, *, now: datetime
) -> list[Consent]:
    """Stop one organisation entirely: revoke the consents naming it, and exclude it from the
    patient's consents that cover its whole type. Returns every consent changed."""
    org = db.session.get(Organisation, org_id)
    if org is None:
        raise ValidationFailed(errors={"org_id": ["No organisation with this id."]})
    changed = []
    candidates = db.session.scalars(
        select(Consent)
        .where(
            Consent.patient_id == patient.id,
            Consent.status.in_(("active", "paused")),
            or_(Consent.grantee_org_id == org.id, Consent.grantee_org_type == org.type),
        )
        .order_by(Consent.id)  # the lock order of data uses (decisions/store.py)
        .with_for_update()
    ).all()
    for consent in sorted(candidates, key=lambda c: (c.created_at, c.id)):
        if consent.grantee_org_id == org.id:
            changed.append(_revoke(consent, reason, now=now))
        elif not any(e.get("org_ids") == [str(org.id)] and len(e) == 1 for e in consent.exclusions):
            consent.exclusions = [*consent.exclusions, {"org_ids": [str(org.id)]}]
            changed.append(_bump(consent, "amended", now=now))
    if changed:
        _confirm_revoked(patient, [c for c in changed if c.status == "revoked"] or changed, now=now)
    return changed


def revoke_everything(patient: Patient, reason: str, *, now: datetime) -> int:
    """Revoke every consent the patient holds (erasure); returns how many changed."""
    count = 0
    for consent in db.session.scalars(
        select(Consent)
        .where(Consent.patient_id == patient.id, Consent.status != "revoked")
        .order_by(Consent.id)  # the lock order of data uses (decisions/store.py)
        .with_for_update()
    ).all():
        _revoke(consent, reason, now=now)
        count += 1
    return count


def expire_due(*, now: datetime, batch: int = 500) -> int:
    """Mark active or paused consents past their validity as expired (the sweep job)."""
    due = db.session.scalars(
        select(Consent)
        .where(Consent.status.in_(("active", "paused")), Consent.valid_until <= now)
        .order_by(Consent.valid_until)
        .limit(batch)
        .with_for_update(skip_locked=True)
    ).all()
    from notifications import notices

    names = org_names({c.grantee_org_id for c in due if c.grantee_org_id})
    for consent in due:
        consent.status = "expired"
        _bump(consent, "expired", now=now)
        notices.consent_expired(consent, names, now=now)
    return len(due)


def remind_expiring(*, now: datetime, ahead: timedelta, batch: int = 500) -> int:
    """Tell patients, once per end date, that an active consent ends within `ahead`."""
    from notifications import notices

    due = db.session.scalars(
        select(Consent)
        .where(
            Consent.status == "active",
            Consent.valid_until > now,
            Consent.valid_until <= now + ahead,
            or_(
                Consent.expiry_reminded_for.is_(None),
                Consent.expiry_reminded_for != Consent.valid_until,
            ),
        )
        .order_by(Consent.valid_until)
        .limit(batch)
        .with_for_update(skip_locked=True)
    ).all()
    names = org_names({c.grantee_org_id for c in due if c.grantee_org_id})
    for consent in due:
        consent.expiry_reminded_for = consent.valid_until
        notices.consent_expiring(consent, names, now=now)
    db.session.flush()
    return len(due)
