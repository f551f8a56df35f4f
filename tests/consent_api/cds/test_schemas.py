"""Our CDS Hooks JSON Schemas refuse what the specification and LEAP's hook refuse: the
route tests validate against them, so they must be able to fail."""

from __future__ import annotations

import copy
import uuid

import pytest

from tests.consent_api.cds.conftest import category, hook_request, mrn, schema_errors

CARD = {
    "uuid": str(uuid.uuid4()),
    "summary": "CONSENT_PERMIT",
    "indicator": "info",
    "detail": "St Mary's may see this patient's lab results.",
    "source": {"label": "Consent Wallet", "url": "https://wallet.example/"},
    "extension": {
        "decision": "CONSENT_PERMIT",
        "obligations": [],
        "basedOn": "https://wallet.example/fhir/R5/Consent/1",
        "consents": [{"reference": "Consent/1", "version": 1}],
        "reasons": {"lab_results": "permitted"},
    },
}
REDACT = {
    "id": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "REDACT"},
    "parameters": {"codes": [category("imaging")]},
}


def _card(**changes) -> dict:
    card = copy.deepcopy(CARD)
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = card
        for key in parents:
            node = node[key]
        if value is None:
            del node[last]
        else:
            node[last] = value
    return {"cards": [card]}


def test_a_good_card_and_a_redacting_one_pass():
    assert schema_errors("hook-response", _card()) == []
    assert schema_errors("hook-response", _card(extension__obligations=[REDACT])) == []


@pytest.mark.parametrize(
    "response",
    [
        pytest.param(_card(summary="CONSENT_PERMIT " + "x" * 125), id="summary of 140"),
        pytest.param(_card(indicator="hard-stop"), id="pre-1.0 indicator"),
        pytest.param(_card(indicator="critical"), id="indicator not following a permit"),
        pytest.param(_card(detail=""), id="empty detail"),
        pytest.param(_card(source__label=None), id="no source label"),
        pytest.param(_card(source__url=None), id="no source url"),
        pytest.param(_card(extension__decision="PERMIT"), id="not a LEAP decision"),
        pytest.param(_card(extension__obligations=None), id="no obligations"),
        pytest.param(_card(extension__consents=[]), id="empty consents"),
        pytest.param(_card(uuid=None), id="no uuid"),
        pytest.param(
            _card(extension__obligations=[{**REDACT, "parameters": {"codes": []}}]),
            id="empty codes",
        ),
        pytest.param(
            _card(extension__obligations=[{"parameters": REDACT["parameters"]}]),
            id="obligation without id",
        ),
        pytest.param(
            _card(suggestions=[{"label": "Ask the patient"}]),
            id="suggestions without selectionBehavior",
        ),
        pytest.param(_card(links=[]), id="empty links"),
        pytest.param(_card(detail=None), id="no detail"),
        pytest.param({"cards": []}, id="no card"),
        pytest.param({"cards": _card()["cards"] * 2}, id="two cards"),
    ],
)
def test_the_response_schema_refuses(response):
    assert schema_errors("hook-response", response) != []


def test_a_deny_or_no_consent_card_carries_no_obligation_or_relied_on_consents():
    deny = _card(summary="CONSENT_DENY", indicator="critical", extension__decision="CONSENT_DENY")
    assert schema_errors("hook-response", deny) != []  # it lists consents
    del deny["cards"][0]["extension"]["consents"]
    assert schema_errors("hook-response", deny) == []
    none = copy.deepcopy(deny)
    none["cards"][0] |= {"summary": "NO_CONSENT", "indicator": "warning"}
    none["cards"][0]["extension"]["decision"] = "NO_CONSENT"
    assert schema_errors("hook-response", none) != []  # it has a basedOn
    del none["cards"][0]["extension"]["basedOn"]
    assert schema_errors("hook-response", none) == []


@pytest.mark.parametrize(
    "request_body",
    [
        pytest.param(hook_request([mrn()], scope="adr"), id="LEAP's legacy scope"),
        pytest.param({**hook_request([mrn()]), "hookInstance": None}, id="null hookInstance"),
        pytest.param(
            {
                **hook_request([mrn()]),
                "fhirAuthorization": {
                    "access_token": "t",
                    "token_type": "Bearer",
                    "expires_in": 300,
                    "scope": "patient/*.read",
                    "subject": "cds",
                },
            },
            id="fhirAuthorization without fhirServer",
        ),
        pytest.param(hook_request([{**mrn(), "display": "MRN"}]), id="identifier with display"),
        pytest.param(
            hook_request([mrn()], **{"class": [category("everything")]}), id="unknown class"
        ),
    ],
)
def test_the_request_schema_refuses(request_body):
    assert schema_errors("hook-request", request_body) != []


def test_the_discovery_schema_wants_a_description_and_no_empty_prefetch():
    service = {
        "hook": "patient-consent-consult",
        "id": "patient-consent-consult",
        "description": "d",
    }
    assert schema_errors("discovery-response", {"services": [service]}) == []
    assert schema_errors("discovery-response", {"services": [{**service, "description": ""}]}) != []
    assert schema_errors("discovery-response", {"services": [{**service, "prefetch": {}}]}) != []
    assert schema_errors("discovery-response", {"services": [{**service, "id": "a/b"}]}) != []
