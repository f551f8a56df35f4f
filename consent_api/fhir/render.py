"""Render consents as FHIR R5 resources: pure functions, no database, no clock.

A consent is rendered from its JSON view (consents.schemas.ConsentOut, or OrgConsentOut for
an organisation), so that the effective status and what an organisation may see of others'
exclusions are decided in one place, not twice.

The shape is FHIR R5's: `decision` is the base rule, the one top-level provision states what
it permits, and each provision nested in it is an exception, so a deny: our exclusions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from consent_api import catalog

# The code systems of our data categories and of their v3 sensitivity codes live in the
# catalog, below every package that speaks them (this one, and the CDS service).
DATA_CATEGORY_SYSTEM = catalog.DATA_CATEGORY_SYSTEM
ACT_CODE_SYSTEM = catalog.ACT_CODE_SYSTEM
SENSITIVITY_CODES = catalog.SENSITIVITY_CODES
PARTICIPATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
LOINC_SYSTEM = "http://loinc.org"

# consent-state-codes (draft | active | inactive | not-done | entered-in-error | unknown) has
# no word for paused, revoked or expired: none is enforced now, which is what inactive says
# ("terminated or replaced"). Which of them it is, a reader needs (paused comes back, revoked
# never does), so an extension of ours says it with our own state code.
STATUSES = {"active": "active", "paused": "inactive", "revoked": "inactive", "expired": "inactive"}
STATE_EXTENSION = "https://consent-wallet.example/fhir/StructureDefinition/consent-state"

CATEGORY = {"system": LOINC_SYSTEM, "code": "59284-0", "display": "Consent Document"}
# The grantee receives the data: v3 "information recipient".
RECIPIENT = {
    "coding": [{"system": PARTICIPATION_SYSTEM, "code": "IRCP", "display": "information recipient"}]
}

# Displays as the code systems define them (consentaction, v3-ActReason).
ACTION_DISPLAYS = {
    "access": "Access",
    "collect": "Collect",
    "use": "Use",
    "disclose": "Disclose",
    "correct": "Access and Correct",
}
PURPOSE_DISPLAYS = {
    "TREAT": "treatment",
    "ETREAT": "Emergency Treatment",
    "HPAYMT": "healthcare payment",
    "HOPERAT": "healthcare operations",
    "HRESCH": "healthcare research",
    "CLINTRL": "clinical trial",
    "PUBHLTH": "public health",
    "HMARKT": "healthcare marketing",
}


def consent_resource(view: Mapping[str, Any], *, patient: str) -> dict[str, Any]:
    """Render one consent's JSON view as a FHIR R5 Consent resource; `patient` is the
    patient's id as the reader knows it (an organisation: its patient_ref)."""
    patient = {"reference": f"Patient/{patient}"}
    grantee = grantee_reference(view["grantee"])
    return {
        "resourceType": "Consent",
        "id": str(view["id"]),
        "meta": {"versionId": str(view["version"]), "lastUpdated": instant(view["updated_at"])},
        "extension": [{"url": STATE_EXTENSION, "valueCode": view["status"]}],
        "status": STATUSES.get(view["status"], "unknown"),
        "category": [{"coding": [CATEGORY]}],
        "subject": patient,
        "date": _moment(view["created_at"]).astimezone(UTC).date().isoformat(),
        "period": period(view["valid_from"], view["valid_until"]),
        "grantor": [patient],
        "grantee": [grantee],
        "decision": "permit",
        "provision": [_permit(view, grantee)],
    }


def searchset(
    entries: Sequence[tuple[str, Mapping[str, Any]]],
    *,
    links: Mapping[str, str],
    total: int,
    now: datetime,
) -> dict[str, Any]:
    """Wrap one page of (fullUrl, resource) pairs in a FHIR searchset Bundle, every entry a
    match; `links` by relation (self, next), `total` the matches on every page."""
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "timestamp": instant(now),
        "total": total,
        "link": [{"relation": relation, "url": url} for relation, url in links.items()],
    }
    if entries:  # FHIR JSON has no empty arrays: no match, no `entry` at all
        bundle["entry"] = [
            {"fullUrl": full_url, "resource": resource, "search": {"mode": "match"}}
            for full_url, resource in entries
        ]
    return bundle


def history_bundle(
    entries: Sequence[tuple[str, Mapping[str, Any]]], *, self_url: str, now: datetime
) -> dict[str, Any]:
    """Wrap (fullUrl, resource) pairs, one per version, newest first, in a FHIR history
    Bundle: the first version as its creation, each later one as an update."""
    return {
        "resourceType": "Bundle",
        "type": "history",
        "timestamp": instant(now),
        "total": len(entries),
        "link": [{"relation": "self", "url": self_url}],
        "entry": [_history_entry(full_url, resource) for full_url, resource in entries],
    }


def _history_entry(full_url: str, resource: Mapping[str, Any]) -> dict[str, Any]:
    meta = resource["meta"]
    created = meta["versionId"] == "1"
    path = f"{resource['resourceType']}/{resource['id']}"
    return {
        "fullUrl": full_url,
        "resource": resource,
        "request": {
            "method": "POST" if created else "PUT",
            "url": resource["resourceType"] if created else path,
        },
        "response": {
            "status": "201 Created" if created else "200 OK",
            "etag": f'W/"{meta["versionId"]}"',
            "lastModified": meta["lastUpdated"],
        },
    }


def grantee_reference(grantee: Mapping[str, Any]) -> dict[str, Any]:
    """Return the Reference to a consent's grantee.

    A grantee by type ("every hospital") is a class of organisations, not one resource: a
    literal reference would name the wrong thing, and an Identifier identifies one instance.
    So it is a Reference with only a `display` (valid: ref-2 asks for reference, identifier
    or display), typed Organization so that readers know what kind of party it stands for.
    """
    if grantee.get("org_id"):
        reference = {"reference": f"Organization/{grantee['org_id']}", "type": "Organization"}
        if grantee.get("org_name"):
            reference["display"] = grantee["org_name"]
        return reference
    return {"type": "Organization", "display": f"Every organisation of type {grantee['org_type']}"}


def categories(granted: Iterable[str]) -> list[str]:
    """Return the categories a grant covers, in catalog order: `all` means every
    non-sensitive category, and a sensitive one only when named."""
    granted = frozenset(granted)
    return [code for code in catalog.CATEGORIES if catalog.covers(granted, code)]


def category_concept(code: str) -> dict[str, Any]:
    """Return a data category as a CodeableConcept, with its v3 sensitivity code if any.

    Both codings sit in one concept, as translations of each other. Putting the sensitivity
    code in provision.securityLabel instead would AND it with provision.code and narrow the
    whole permit to sensitive data only.
    """
    coding = [_coding(DATA_CATEGORY_SYSTEM, code, code.replace("_", " ").capitalize())]
    if code in SENSITIVITY_CODES:
        coding.append(_coding(ACT_CODE_SYSTEM, *SENSITIVITY_CODES[code]))
    return {"coding": coding}


def period(
    start: date | datetime | str | None, end: date | datetime | str | None
) -> dict[str, str]:
    """Return a FHIR Period; an open end is left out."""
    bounds = {"start": start, "end": end}
    return {key: _date_time(value) for key, value in bounds.items() if value is not None}


def _moment(value: datetime | str) -> datetime:
    # The JSON view writes timestamps in ISO 8601; the clock's own values come as they are.
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def instant(value: datetime | str) -> str:
    """Return a timestamp as a FHIR instant, in UTC."""
    return _moment(value).astimezone(UTC).isoformat().replace("+00:00", "Z")


def _date_time(value: date | datetime | str) -> str:
    if isinstance(value, str):  # ISO 8601 from the JSON view: a date, or a timestamp
        return instant(value) if "T" in value else value
    return instant(value) if isinstance(value, datetime) else value.isoformat()


def _coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return coding


def _purposes(codes: Iterable[str]) -> list[dict[str, str]]:
    return [_coding(catalog.PURPOSE_SYSTEM, c, PURPOSE_DISPLAYS.get(c)) for c in codes]


def _recipient(reference: Mapping[str, Any]) -> dict[str, Any]:
    return {"role": RECIPIENT, "reference": dict(reference)}


def _permit(view: Mapping[str, Any], grantee: Mapping[str, Any]) -> dict[str, Any]:
    provision: dict[str, Any] = {
        "actor": [_recipient(grantee)],
        "action": [
            {"coding": [_coding(catalog.ACTION_SYSTEM, a, ACTION_DISPLAYS.get(a))]}
            for a in view["actions"]
        ],
        "purpose": _purposes(view["purposes"]),
        "code": [category_concept(c) for c in categories(view["data_categories"])],
    }
    data_period = view.get("data_period")
    if data_period and (data_period.get("start") or data_period.get("end")):
        provision["dataPeriod"] = period(data_period.get("start"), data_period.get("end"))
    denies = [deny for deny in map(_deny, view["exclusions"]) if deny]
    if denies:
        provision["provision"] = denies
    return provision


def _deny(exclusion: Mapping[str, Any]) -> dict[str, Any]:
    # An exclusion applies where all its dimensions match; FHIR ANDs a provision's elements
    # and ORs the repetitions within one, which is the same rule. No action: it denies all.
    deny: dict[str, Any] = {}
    if exclusion.get("org_ids"):
        deny["actor"] = [
            _recipient({"reference": f"Organization/{org_id}", "type": "Organization"})
            for org_id in exclusion["org_ids"]
        ]
    if exclusion.get("purposes"):
        deny["purpose"] = _purposes(exclusion["purposes"])
    if exclusion.get("data_categories"):
        deny["code"] = [category_concept(c) for c in exclusion["data_categories"]]
    return deny
