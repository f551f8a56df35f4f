"""What patients read (issue 13's text slips): a consent's grantee and summary, the points
statement, and no sentence run together anywhere a summary is reused."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from consent_api.catalog import ACTIONS, CATEGORIES, PURPOSES, SENSITIVE
from consent_api.consents.summary import summarise
from tests.conftest import bearer


def test_a_consent_naming_one_organisation_gives_its_type(client, grant, org_credentials):
    pharma = org_credentials("pharma", name="Acme Pharma")
    _, consent, _ = grant(grantee={"org_id": str(pharma.org.id)}, purposes=["HRESCH"])
    assert consent["grantee"] == {
        "org_id": str(pharma.org.id),
        "org_name": "Acme Pharma",
        "org_type": "pharma",
        "suspension": None,
    }


def test_a_paused_consent_says_so_and_a_resumed_one_no_longer(client, grant):
    _, consent, token = grant()
    url = f"/v1/me/consents/{consent['id']}"
    paused = client.post(f"{url}/pause", headers=bearer(token)).json
    assert "paused" in paused["summary"].lower()
    assert paused["summary"].startswith(consent["summary"].rstrip("."))
    resumed = client.post(f"{url}/resume", headers=bearer(token)).json
    assert resumed["summary"] == consent["summary"]


def test_all_records_and_a_named_sensitive_category_read_without_contradiction():
    text = summarise(
        {"actions": ["use"], "purposes": ["HRESCH"], "data_categories": ["all", "genomics"]},
        grantee="Acme",
        org_names={},
    )
    assert "your genetic data" in text
    assert "genetic," not in text
    assert "except genetic" not in text
    assert "mental-health" in text  # still left out, and said so


SCOPES = st.fixed_dictionaries(
    {
        "actions": st.lists(st.sampled_from(sorted(ACTIONS)), min_size=1, unique=True),
        "purposes": st.lists(st.sampled_from(sorted(PURPOSES)), min_size=1, unique=True),
        "data_categories": st.lists(
            st.sampled_from(["all", *sorted(CATEGORIES)]), min_size=1, unique=True
        ),
        "max_uses": st.none() | st.integers(1, 10),
        "fee_per_use": st.none() | st.integers(1, 500),
    }
)


@given(SCOPES)
def test_a_summary_is_sentences_that_end_once(scope):
    text = summarise(scope, grantee="Acme", org_names={})
    assert text.endswith(".")
    assert ".." not in text
    assert " ." not in text
    assert ",," not in text
    named = [c for c in scope["data_categories"] if c in SENSITIVE]
    for code in named:
        assert CATEGORIES[code] in text
