"""Signed consent receipts: every version of a consent, revocations and expiries included,
as a compact JWS (ES256, `typ` consent-receipt+jwt) by the service's signing key, published
at /.well-known/jwks.json (server/signing.py).

A receipt is built from what is stored, whenever it is asked for: the version's snapshot
(the consent exactly as the patient saw it then) and the audit entry written with it. Any
version's receipt can therefore be fetched at any time; its claims never change, except the
audit entry's leaf index, null until the sequencer has put the entry in the tree. The
signature differs on each fetch (ECDSA signatures are randomised; after a key rotation the
new key signs), the claims do not.

**Receipt ids.** uuid5(NAMESPACE, "<consent id>/<version>"), the consent named by the id its
holder knows it by: the patient's receipt by the consent's own id, so the notice of a
revocation or an expiry can carry the id of the receipt the patient will fetch (notices.py); an
organisation's by the id it was shown (links/refs.py). A consent to a whole type of
organisation is one consent that each of them holds under an id of its own, and an id they
all shared would be a key to join their patients on; so are the subject and the audit
entry: an organisation's receipt names the patient by its `patient_ref`, and carries the
audit entry only when the consent names that organisation alone.

**Claims.** Kantara Consent Receipt v1.1 (which ISO/IEC TS 27560 takes its receipt from):
`version`, `jurisdiction` (the JURISDICTION setting), `consentTimestamp` (the version's
time, in seconds), `collectionMethod`, `consentReceiptID`, `language`, `piiPrincipalId`
(the patient's id, a random UUID, or the organisation's `patient_ref`: never a name or an
e-mail), `piiControllers` (the trustee: TRUSTEE_NAME and the ISSUER URL), `policyUrl`
(PRIVACY_POLICY_URL, null if unset), `services` (one purpose each, with its data categories,
`termination` and the recipient as `thirdPartyName`), `sensitive` and `spiCat`. The JWT
claims `iss`, `jti`, `iat` and `sub` repeat the controller's URL, the receipt id, the time
and the subject. What Kantara v1.1 has no field for, ISO/IEC TS 27560's record does, under
names of ours: `consentId`, `consentVersion`, `change`, `status` (the version's: active,
paused, revoked, expired), `recipient`, `dataCategories`, `purposes`, `actions`,
`validity` (`from`, `until`), `dataPeriod`, `maxUses`, `exclusions`, `feePerUse`,
`termsVersion` (the version whose terms are in force: a pause, resume or revocation keeps
the terms of the version before it) and `audit` (`entryId`, `leafIndex`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from consent_api.audit.models import AuditEntry, AuditLeaf
from consent_api.catalog import SENSITIVE
from consent_api.consents.listing import one_for_org
from consent_api.consents.models import Consent, ConsentVersion
from consent_api.consents.schemas import visible_exclusions
from consent_api.events import kinds
from consent_api.links import refs
from consent_api.orgs.models import Organisation
from consent_api.patients.models import Patient
from consent_api.wording import ORG_TYPE_PLURALS
from server import signing
from server.db import db
from server.errors import NotFound

TYP = "consent-receipt+jwt"
SPECIFICATION = "KI-CR-v1.1.0"
NAMESPACE = uuid.UUID("6c0f6c3e-8d0a-5b55-9f0e-2f1d3c7a9b41")  # ours, fixed forever
TERMS_CHANGES = ("created", "amended")  # the changes that set terms; the others keep them
_BY_THE_PATIENT = "by the patient, in the Consent Wallet app"
COLLECTION_METHODS = {
    "created": f"granted {_BY_THE_PATIENT}",
    "amended": f"amended {_BY_THE_PATIENT}",
    "paused": f"paused {_BY_THE_PATIENT}",
    "resumed": f"resumed {_BY_THE_PATIENT}",
    "revoked": f"revoked {_BY_THE_PATIENT}",
    "expired": "ended by the service at the end of its validity",
}


def receipt_id(consent_id: uuid.UUID, version: int) -> uuid.UUID:
    """The id of a version's receipt, the consent named by the id its holder knows it by."""
    return uuid.uuid5(NAMESPACE, f"{consent_id}/{version}")


@dataclass(frozen=True)
class Controller:
    """The trustee, as receipts name it (read from the configuration at the boundary)."""

    name: str
    url: str
    jurisdiction: str
    policy_url: str | None

    @classmethod
    def configured(cls, config: Mapping[str, Any], *, url: str) -> Controller:
        """The controller the settings describe, at the service's public URL."""
        return cls(
            name=config["TRUSTEE_NAME"],
            url=url,
            jurisdiction=config["JURISDICTION"],
            policy_url=config["PRIVACY_POLICY_URL"] or None,
        )


@dataclass(frozen=True)
class Holder:
    """Whose copy of the receipt: the patient's (org None) or an organisation's."""

    consent: Consent
    org: Organisation | None = None

    @property
    def consent_id(self) -> uuid.UUID:
        """The consent, by the id the holder knows it by."""
        if self.org is None:
            return self.consent.id
        return refs.shown_consent_id(self.org.id, self.consent.id)

    @property
    def subject(self) -> str:
        """The patient, as the holder knows them: their random id, or the `patient_ref`."""
        if self.org is None:
            return str(self.consent.patient_id)
        return refs.encode(self.org.id, self.consent.patient_id)

    @property
    def sees_audit(self) -> bool:
        """An organisation sees the audit entry of a consent that names it alone."""
        return self.org is None or self.consent.grantee_org_id == self.org.id

    def exclusions(self, kept: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The version's exclusions the holder may see (an organisation: its own business)."""
        return kept if self.org is None else visible_exclusions(kept, self.org.id)


@dataclass(frozen=True)
class AuditRef:
    """The audit entry written with a version, and its leaf index once sequenced."""

    entry_id: uuid.UUID
    leaf_index: int | None


@dataclass(frozen=True)
class Receipt:
    """One version's receipt, for one holder: its claims and the compact JWS signing them."""

    id: uuid.UUID
    consent_id: uuid.UUID
    version: int
    claims: dict[str, Any]
    jws: str


def _recipient(grantee: Mapping[str, Any], consent: Consent) -> dict[str, Any]:
    # Versions kept before snapshots gave a named organisation's type read it from the
    # organisation (the grantee never changes).
    org_type = grantee.get("org_type") or (
        consent.grantee_org.type if consent.grantee_org_id else consent.grantee_org_type
    )
    name = grantee.get("org_name") or ORG_TYPE_PLURALS.get(org_type, f"every {org_type}")
    return {"orgId": grantee.get("org_id"), "orgType": org_type, "name": name}


def claims(
    kept: ConsentVersion,
    *,
    holder: Holder,
    terms_version: int,
    audit: AuditRef | None,
    controller: Controller,
) -> dict[str, Any]:
    """What a version's receipt says, for its holder."""
    snapshot = kept.snapshot
    rid = str(receipt_id(holder.consent_id, kept.version))
    subject = holder.subject
    at = int(kept.created_at.timestamp())
    recipient = _recipient(snapshot["grantee"], holder.consent)
    categories = snapshot["data_categories"]
    sensitive = sorted(SENSITIVE & set(categories))
    until = snapshot["valid_until"]
    return {
        "iss": controller.url,
        "jti": rid,
        "iat": at,
        "sub": subject,
        "version": SPECIFICATION,
        "jurisdiction": controller.jurisdiction,
        "consentTimestamp": at,
        "collectionMethod": COLLECTION_METHODS[kept.change],
        "consentReceiptID": rid,
        "language": "en",
        "piiPrincipalId": subject,
        "piiControllers": [{"piiController": controller.name, "piiControllerUrl": controller.url}],
        "policyUrl": controller.policy_url,
        "services": [
            {
                "service": f"Use of health data by {recipient['name']}",
                "purposes": [
                    {
                        "purpose": purpose,
                        "purposeCategory": [purpose],
                        "consentType": "EXPLICIT",
                        "piiCategory": categories,
                        "primaryPurpose": True,
                        "termination": until or "when the patient withdraws it",
                        "thirdPartyDisclosure": True,
                        "thirdPartyName": recipient["name"],
                    }
                    for purpose in snapshot["purposes"]
                ],
            }
        ],
        # A grant of "all" never covers a sensitive category: only those named are.
        "sensitive": bool(sensitive),
        "spiCat": sensitive,
        "consentId": str(holder.consent_id),
        "consentVersion": kept.version,
        "change": kept.change,
        "status": snapshot["status"],
        "recipient": recipient,
        "dataCategories": categories,
        "purposes": snapshot["purposes"],
        "actions": snapshot["actions"],
        "validity": {"from": snapshot["valid_from"], "until": until},
        "dataPeriod": snapshot.get("data_period"),
        "maxUses": snapshot.get("max_uses"),
        "exclusions": holder.exclusions(snapshot.get("exclusions") or []),
        "feePerUse": snapshot.get("fee_per_use", 0),
        "termsVersion": terms_version,
        "audit": None
        if audit is None
        else {"entryId": str(audit.entry_id), "leafIndex": audit.leaf_index},
    }


def _versions(consent: Consent, version: int | None) -> tuple[ConsentVersion, int]:
    """The version asked for (the latest if None) and the version whose terms it holds."""
    wanted = consent.version if version is None else version
    history = db.session.scalars(
        select(ConsentVersion)
        .where(ConsentVersion.consent_id == consent.id, ConsentVersion.version <= wanted)
        .order_by(ConsentVersion.version)
    ).all()
    if not history or history[-1].version != wanted:
        raise NotFound("This consent has no such version.")
    terms = max(v.version for v in history if v.change in TERMS_CHANGES)
    return history[-1], terms


def _audit_of(consent: Consent, kept: ConsentVersion) -> AuditRef | None:
    """The audit entry written with the version (None for a version older than the log):
    the patient's entries of that kind at that very moment, read by the patient's index."""
    found = db.session.execute(
        select(AuditEntry.id, AuditEntry.subjects, AuditLeaf.leaf_index)
        .outerjoin(AuditLeaf, AuditLeaf.entry_id == AuditEntry.id)
        .where(
            AuditEntry.patient_id == consent.patient_id,
            AuditEntry.occurred_at == kept.created_at,
            AuditEntry.kind == kinds.BY_CONSENT_CHANGE[kept.change],
        )
    ).all()
    wanted = {"consent": str(consent.id), "version": str(kept.version)}
    for entry_id, subjects, leaf_index in found:
        if all(subjects.get(name) == value for name, value in wanted.items()):
            return AuditRef(entry_id, leaf_index)
    return None


def _receipt(holder: Holder, version: int | None, *, controller: Controller) -> Receipt:
    kept, terms = _versions(holder.consent, version)
    audit = _audit_of(holder.consent, kept) if holder.sees_audit else None
    said = claims(kept, holder=holder, terms_version=terms, audit=audit, controller=controller)
    return Receipt(
        id=uuid.UUID(said["consentReceiptID"]),
        consent_id=holder.consent_id,
        version=kept.version,
        claims=said,
        jws=signing.signer().sign(said, typ=TYP),
    )


def for_patient(
    patient: Patient, consent_id: uuid.UUID, version: int | None, *, controller: Controller
) -> Receipt:
    """The receipt of a version of one of the patient's consents (404 for another's)."""
    consent = db.session.scalar(
        select(Consent).where(Consent.id == consent_id, Consent.patient_id == patient.id)
    )
    if consent is None:
        raise NotFound("No consent with this id.")
    return _receipt(Holder(consent), version, controller=controller)


def for_org(
    org: Organisation, shown_id: uuid.UUID, version: int | None, *, controller: Controller
) -> Receipt:
    """The receipt of a version of a consent `org` holds, by the id it was shown (404 for
    any other, as GET /v1/consents/{id} answers)."""
    return _receipt(Holder(one_for_org(org, shown_id), org), version, controller=controller)
