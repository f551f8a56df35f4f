"""The card's words and fields (consent_api/cds/cards.py), without the HTTP around them."""

from __future__ import annotations

import uuid

from consent_api import catalog
from consent_api.cds import cards
from consent_api.cds.consult import combine
from consent_api.cds.parsing import Consult
from consent_api.decisions.decide import REASONS, Decision

ASKED = Consult(
    refs=(),
    identifiers=(),
    purposes=("TREAT",),
    categories=("lab_results",),
    action="access",
    whole_record=False,
    content_sent=False,
)


def _card(decision: Decision, org_name: str = "St Mary's") -> dict:
    outcome = combine(
        {("lab_results", "TREAT"): decision}, categories=["lab_results"], purposes=["TREAT"]
    )
    response = cards.response(
        outcome,
        ASKED,
        org_name=org_name,
        source_url="https://wallet.example/",
        consent_url=lambda consent_id: f"https://wallet.example/fhir/R5/Consent/{consent_id}",
    )
    (card,) = response["cards"]
    return card


def test_every_purpose_and_reason_has_words():
    assert set(cards.PURPOSE_WORDS) == set(catalog.PURPOSES)
    assert set(cards.REASON_WORDS) == set(REASONS) - {"permitted"}


def test_no_consent_leaves_out_what_it_has_not():
    card = _card(Decision("deny", "no_consent"))
    assert card["extension"] == {
        "decision": "NO_CONSENT",
        "obligations": [],
        "reasons": {"lab_results": "no_consent"},
    }
    assert card["indicator"] == "warning"


def test_an_organisation_name_is_shown_as_text_not_markdown():
    card = _card(
        Decision("permit", "permitted", uuid.uuid4(), 1), org_name="[Click](https://x.example)"
    )
    assert card["detail"].startswith("\\[Click\\](https://x.example) may see")


def test_each_card_has_its_own_uuid():
    decision = Decision("permit", "permitted", uuid.uuid4(), 1)
    assert _card(decision)["uuid"] != _card(decision)["uuid"]


def test_discovery_is_the_one_service_without_prefetch():
    (service,) = cards.discovery()["services"]
    assert service["id"] == service["hook"] == "patient-consent-consult"
    assert "prefetch" not in service
