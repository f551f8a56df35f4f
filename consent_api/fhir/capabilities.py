"""What this FHIR server can do, as FHIR R5 says it: the CapabilityStatement of
`GET /fhir/R5/metadata`. Pure: the URLs and the moment are passed in."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from consent_api.fhir.render import instant

FHIR_VERSION = "5.0.0"
SECURITY_SERVICE_SYSTEM = "http://hl7.org/fhir/restful-security-service"
# SMART App Launch's extension naming the OAuth endpoints (its v2 keeps it, beside
# .well-known/smart-configuration, for clients that read only the CapabilityStatement).
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
INTERACTIONS = ("read", "vread", "search-type", "history-instance")
SEARCH_PARAMETERS = (
    {
        "name": "patient",
        "definition": "http://hl7.org/fhir/SearchParameter/clinical-patient",
        "type": "reference",
        "documentation": "The patient, as Patient/<id>: a patient their own id, an "
        "organisation the patient_ref it knows them by; or, for an organisation, "
        "patient:identifier=<system>|<value> of a patient linked to it. Required.",
    },
    {
        "name": "status",
        "definition": "http://hl7.org/fhir/SearchParameter/Consent-status",
        "type": "token",
        "documentation": "active (in force) or inactive (paused, revoked or expired; the "
        "consent-state extension says which); comma-separated alternatives.",
    },
    {
        "name": "_lastUpdated",
        "definition": "http://hl7.org/fhir/SearchParameter/Resource-lastUpdated",
        "type": "date",
        "documentation": "Prefixes eq, gt, ge, lt, le; repeat it for a range.",
    },
)


def capability_statement(urls: Mapping[str, str], *, now: datetime) -> dict[str, Any]:
    """Return the CapabilityStatement of this instance; `urls` names the FHIR base
    (`fhir`) and the OAuth endpoints (`token`, `authorize`, `revoke`)."""
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": instant(now),
        "publisher": "Consent Wallet",
        "kind": "instance",
        "software": {"name": "Consent Wallet"},
        "implementation": {
            "description": "A patient's consents as FHIR R5 Consent resources, read-only.",
            "url": urls["fhir"],
        },
        "fhirVersion": FHIR_VERSION,
        "format": ["json"],
        "rest": [
            {
                "mode": "server",
                "security": _security(urls),
                "resource": [_consent()],
            }
        ],
    }


def _security(urls: Mapping[str, str]) -> dict[str, Any]:
    endpoints = ("token", "authorize", "revoke")
    return {
        "extension": [
            {
                "url": OAUTH_URIS,
                "extension": [{"url": name, "valueUri": urls[name]} for name in endpoints],
            }
        ],
        "cors": False,
        "service": [
            {
                "coding": [
                    {
                        "system": SECURITY_SERVICE_SYSTEM,
                        "code": "SMART-on-FHIR",
                        "display": "SMART-on-FHIR",
                    }
                ]
            }
        ],
        "description": "OAuth 2.0 bearer tokens from our token endpoint: patients with "
        "the scope patient, organisations with consent.read (or SMART's system/Consent.rs, "
        "an alias of it) by client credentials (client_secret_basic or private_key_jwt). "
        "Discovery: .well-known/smart-configuration.",
    }


def _consent() -> dict[str, Any]:
    return {
        "type": "Consent",
        "profile": "http://hl7.org/fhir/StructureDefinition/Consent",
        "interaction": [{"code": code} for code in INTERACTIONS],
        "versioning": "versioned",
        "readHistory": True,
        "updateCreate": False,
        "conditionalRead": "full-support",
        "searchParam": list(SEARCH_PARAMETERS),
    }
