"""The combination of a consult's decisions (consent_api/cds/consult.py): pure, no database."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from consent_api import catalog
from consent_api.cds.consult import DENY, NO_CONSENT, PERMIT, combine, redact_codes
from consent_api.decisions.decide import Decision

A, B = uuid.UUID(int=1), uuid.UUID(int=2)
PERMIT_A = Decision("permit", "permitted", A, 1)
PERMIT_B = Decision("permit", "permitted", B, 3)
REVOKED_A = Decision("deny", "revoked", A, 2)
OUT_OF_SCOPE_B = Decision("deny", "out_of_scope", B, 3)
NONE = Decision("deny", "no_consent")


def test_everything_permitted_is_a_plain_permit_relying_on_each_consent_once():
    decisions = {
        ("lab_results", "TREAT"): PERMIT_A,
        ("imaging", "TREAT"): PERMIT_B,
        ("genomics", "TREAT"): PERMIT_A,
    }
    outcome = combine(
        decisions, categories=["lab_results", "imaging", "genomics"], purposes=["TREAT"]
    )
    assert outcome.decision == PERMIT
    assert outcome.obligations == []
    assert outcome.consents == ((A, 1), (B, 3))
    assert outcome.closest is None


def test_some_permitted_redacts_the_rest_with_their_sensitivity_codes():
    decisions = {("lab_results", "TREAT"): PERMIT_A, ("mental_health", "TREAT"): OUT_OF_SCOPE_B}
    outcome = combine(decisions, categories=["lab_results", "mental_health"], purposes=["TREAT"])
    assert outcome.decision == PERMIT
    assert outcome.withheld == ("mental_health",)
    assert outcome.obligations == [
        {
            "id": {"system": catalog.ACT_CODE_SYSTEM, "code": "REDACT"},
            "parameters": {
                "codes": [
                    {"system": catalog.DATA_CATEGORY_SYSTEM, "code": "mental_health"},
                    {"system": catalog.ACT_CODE_SYSTEM, "code": "MH"},
                ]
            },
        }
    ]
    assert outcome.consents == ((A, 1),)


def test_a_category_denied_for_one_purpose_is_withheld():
    decisions = {("lab_results", "TREAT"): PERMIT_A, ("lab_results", "HRESCH"): OUT_OF_SCOPE_B}
    outcome = combine(decisions, categories=["lab_results"], purposes=["TREAT", "HRESCH"])
    assert outcome.decision == DENY
    assert outcome.reasons == {"lab_results": "out_of_scope"}
    assert outcome.consents == ()  # a permit of one purpose is not relied on
    assert outcome.closest == (B, 3)


def test_denied_everywhere_names_the_first_consent_that_came_closest():
    decisions = {("lab_results", "TREAT"): REVOKED_A, ("imaging", "TREAT"): OUT_OF_SCOPE_B}
    outcome = combine(decisions, categories=["lab_results", "imaging"], purposes=["TREAT"])
    assert (outcome.decision, outcome.closest) == (DENY, (A, 2))
    assert outcome.obligations == []


def test_no_consent_anywhere_is_no_consent():
    decisions = {("lab_results", "TREAT"): NONE, ("lab_results", "HRESCH"): NONE}
    outcome = combine(decisions, categories=["lab_results"], purposes=["TREAT", "HRESCH"])
    assert (outcome.decision, outcome.closest, outcome.consents) == (NO_CONSENT, None, ())
    assert outcome.reasons == {"lab_results": "no_consent"}


def test_a_refusal_without_a_consent_is_still_a_deny():
    suspended = Decision("deny", "org_suspended")
    outcome = combine({("imaging", "TREAT"): suspended}, categories=["imaging"], purposes=["TREAT"])
    assert (outcome.decision, outcome.closest) == (DENY, None)


PAIRS = st.sampled_from([PERMIT_A, PERMIT_B, REVOKED_A, OUT_OF_SCOPE_B])


@given(
    categories=st.lists(st.sampled_from(list(catalog.CATEGORIES)), min_size=1, unique=True),
    purposes=st.lists(st.sampled_from(list(catalog.PURPOSES)), min_size=1, max_size=3, unique=True),
    data=st.data(),
)
def test_released_and_withheld_split_the_categories_asked(categories, purposes, data):
    decisions = {(c, p): data.draw(PAIRS) for c in categories for p in purposes}
    outcome = combine(decisions, categories=categories, purposes=purposes)
    assert set(outcome.released) | set(outcome.withheld) == set(categories)
    assert not set(outcome.released) & set(outcome.withheld)
    for category in categories:
        released = all(decisions[category, p].permitted for p in purposes)
        assert (category in outcome.released) == released
    assert (outcome.decision == PERMIT) == bool(outcome.released)
    if outcome.decision == PERMIT and outcome.withheld:
        (obligation,) = outcome.obligations
        assert obligation["parameters"]["codes"] == redact_codes(outcome.withheld)
    else:
        assert outcome.obligations == []
