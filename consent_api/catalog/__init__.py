"""The catalog: data categories, purposes of use and actions, with plain-language labels,
and the code systems they are written in."""

from __future__ import annotations

ALL = "all"

CATEGORIES: dict[str, str] = {
    "demographics": "your name, birth date and contact details",
    "encounters": "your visits and admissions",
    "diagnoses": "your diagnoses",
    "procedures": "your procedures and operations",
    "medications": "your medications",
    "allergies": "your allergies",
    "immunizations": "your vaccinations",
    "lab_results": "your lab results",
    "vital_signs": "your vital signs",
    "imaging": "your scans and X-rays",
    "clinical_notes": "your doctors' notes",
    "wearables": "data from your wearables",
    "genomics": "your genetic data",
    "mental_health": "your mental-health records",
    "sexual_health": "your sexual-health records",
    "substance_use": "your substance-use records",
}
# Never covered by a broad grant of "all": the patient must name them.
SENSITIVE = frozenset({"genomics", "mental_health", "sexual_health", "substance_use"})
# Our data categories are our own concepts, so they live in a code system of our own.
DATA_CATEGORY_SYSTEM = "https://consent-wallet.example/fhir/CodeSystem/data-category"
ACT_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
# The v3 information-sensitivity codes (ActCode) that name the same kind of data as a
# sensitive category, so that a policy engine keyed on HL7 sensitivity codes recognises them.
SENSITIVITY_CODES = {
    "genomics": ("GDIS", "genetic disease information sensitivity"),
    "mental_health": ("MH", "mental health information sensitivity"),
    "sexual_health": ("SEX", "sexuality and reproductive health information sensitivity"),
    "substance_use": ("ETH", "substance abuse information sensitivity"),
}

# HL7 v3 PurposeOfUse codes (http://terminology.hl7.org/CodeSystem/v3-ActReason).
PURPOSES: dict[str, str] = {
    "TREAT": "your treatment",
    "ETREAT": "emergency treatment",
    "HPAYMT": "payment for your care",
    "HOPERAT": "running the healthcare organisation",
    "HRESCH": "health research",
    "CLINTRL": "a clinical trial",
    "PUBHLTH": "public health",
    "HMARKT": "marketing",
}
PURPOSE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActReason"

# FHIR R5 consent actions (http://terminology.hl7.org/CodeSystem/consentaction).
ACTIONS: dict[str, str] = {
    "access": "see",
    "use": "use",
    "disclose": "share",
    "collect": "collect",
    "correct": "correct",
}
ACTION_SYSTEM = "http://terminology.hl7.org/CodeSystem/consentaction"


def covers(granted: frozenset[str] | set[str], category: str) -> bool:
    """Whether granted categories cover one category; `all` never covers a sensitive one."""
    return category in granted or (ALL in granted and category not in SENSITIVE)


def as_document() -> dict:
    """Return the public catalog as JSON-ready data."""
    return {
        "data_categories": [
            {"code": code, "label": label, "sensitive": code in SENSITIVE}
            for code, label in CATEGORIES.items()
        ],
        "purposes": [{"code": code, "label": label} for code, label in PURPOSES.items()],
        "actions": [{"code": code, "label": label} for code, label in ACTIONS.items()],
        "all_categories_code": ALL,
    }
