"""Render the service's discovery entry and a consult's one card, LEAP style.

The card: `summary` is the decision code, `indicator` follows it (permit `info`, deny
`critical`, no consent `warning`), `detail` says it in plain words, `extension` carries
LEAP's `decision`, `obligations` and `basedOn`, plus `consents` (every consent a permit
relied on, with its version) and `reasons` (per category asked). CDS Hooks wants no empty
values, so `basedOn` and `consents` are left out when there is nothing to say; LEAP's
`obligations` is always there, `[]` when there are none, as LEAP's clients read it.

No `systemActions`: a consult writes nothing and changes nothing. The ones an EHR could
take are to record the consult (an AuditEvent, which LEAP writes itself; our check, like
the consent check, is no data use) or to label or redact the `content` Bundle (which we do
not process): neither is ours to ask of the client's FHIR server. No `suggestions` either:
the only course a deny or no-consent card points to, asking the patient, is a consent
request (POST /v1/consent-requests) that needs its own justification and scope.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from consent_api import catalog
from consent_api.cds.consult import DENY, NO_CONSENT, PERMIT, Outcome
from consent_api.cds.parsing import HOOK, Consult
from consent_api.wording import join_words

SOURCE_LABEL = "Consent Wallet"
INDICATORS = {PERMIT: "info", DENY: "critical", NO_CONSENT: "warning"}
SERVICE = {
    "hook": HOOK,
    "id": HOOK,
    "title": "Patient Consent Consult",
    "description": (
        "May the calling organisation access this patient's data, now, for these purposes? "
        "A LEAP CDS compatible consent decision: one card whose extension carries the "
        "decision (CONSENT_PERMIT, CONSENT_DENY or NO_CONSENT) and, for a partial permit, a "
        "REDACT obligation naming the data categories to withhold."
    ),
    "usageRequirements": (
        "An OAuth 2.0 bearer token of Consent Wallet with scope consent.check. Name the "
        "patient by the patient_ref you were given (system urn:consent-wallet:patient-ref) or "
        "by your own identifier of a patient linked to you; context.purposeOfUse is required."
    ),
}
# How a clinician reads a purpose (catalog.PURPOSES is worded for the patient).
PURPOSE_WORDS = {
    "TREAT": "treatment",
    "ETREAT": "emergency treatment",
    "HPAYMT": "payment",
    "HOPERAT": "healthcare operations",
    "HRESCH": "research",
    "CLINTRL": "a clinical trial",
    "PUBHLTH": "public health",
    "HMARKT": "marketing",
}
REASON_WORDS = {
    "no_consent": "no consent names the organisation",
    "revoked": "the consent was revoked",
    "expired": "the consent has expired",
    "paused": "the patient paused the consent",
    "not_yet_valid": "the consent has not started yet",
    "out_of_scope": "not covered by the consent",
    "excluded": "excluded by the patient",
    "sensitive_not_named": "sensitive, and not named in the consent",
    "outside_data_period": "outside the consent's data period",
    "max_uses_reached": "the consent's uses are used up",
    "org_suspended": "the organisation is suspended",
}
# Markdown's inline syntax: an organisation's name is shown as text, never as a link.
_MARKDOWN = str.maketrans({c: f"\\{c}" for c in "\\`*_[]<>|~"})


def discovery() -> dict[str, Any]:
    """The discovery document: the one service we offer."""
    return {"services": [dict(SERVICE)]}


def response(
    outcome: Outcome,
    asked: Consult,
    *,
    org_name: str,
    source_url: str,
    consent_url: Callable[[uuid.UUID], str],
) -> dict[str, Any]:
    """The hook response: exactly one card."""
    extension: dict[str, Any] = {
        "decision": outcome.decision,
        "obligations": outcome.obligations,
        "reasons": outcome.reasons,
    }
    based_on = outcome.consents[0] if outcome.consents else outcome.closest
    if based_on is not None:
        extension["basedOn"] = consent_url(based_on[0])
    if outcome.consents:
        extension["consents"] = [
            {"reference": f"Consent/{consent_id}", "version": version}
            for consent_id, version in outcome.consents
        ]
    card = {
        "uuid": str(uuid.uuid4()),
        "summary": outcome.decision,
        "indicator": INDICATORS[outcome.decision],
        "detail": detail(outcome, asked, org_name=org_name),
        "source": {"label": SOURCE_LABEL, "url": source_url},
        "extension": extension,
    }
    return {"cards": [card]}


def _data(categories: Sequence[str]) -> str:
    return join_words([code.replace("_", " ") for code in categories])


def _why(outcome: Outcome) -> str:
    """The withheld categories grouped by reason: "imaging (not covered by the consent)"."""
    by_reason: dict[str, list[str]] = {}
    for category in outcome.withheld:
        by_reason.setdefault(outcome.reasons[category], []).append(category)
    return "; ".join(
        f"{_data(categories)} ({REASON_WORDS.get(reason, reason)})"
        for reason, categories in by_reason.items()
    )


def detail(outcome: Outcome, asked: Consult, *, org_name: str) -> str:
    """The card's detail: the decision in plain words, for whom, and what was not used."""
    who = org_name.translate(_MARKDOWN) or "Your organisation"
    verb = catalog.ACTIONS[asked.action]
    purposes = join_words([f"{PURPOSE_WORDS[p]} ({p})" for p in asked.purposes])
    asked_data = "whole record" if asked.whole_record else _data(asked.categories)
    if outcome.decision == PERMIT and not outcome.withheld:
        said = (
            f"{who} may {verb} this patient's {asked_data} for {purposes}: "
            "the patient's consent permits it."
        )
    elif outcome.decision == PERMIT:
        released = _data(outcome.released)  # what may be used, named (not "record")
        said = (
            f"{who} may {verb} this patient's {released} for {purposes}, but not: "
            f"{_why(outcome)}. Redact those (the REDACT obligation names them)."
        )
    elif outcome.decision == DENY:
        said = f"{who} may not {verb} this patient's {asked_data} for {purposes}: {_why(outcome)}."
    else:
        said = (
            f"No consent of this patient names {who}, by name or by type of organisation: "
            f"it may not {verb} their {asked_data} for {purposes}."
        )
    notes = [f"Decided for {who}, the organisation that asked; context.actor is not used."]
    if asked.content_sent:
        notes.append("The content Bundle was not processed: apply the obligations to it yourself.")
    return " ".join([said, *notes])
