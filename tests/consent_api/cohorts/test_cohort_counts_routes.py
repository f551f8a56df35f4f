"""POST /v1/cohort-counts through HTTP with real tokens: a noisy count with its noise and
budget, small results suppressed, the budget spent exactly, and nothing spent on bad input."""

import uuid

import pytest
from sqlalchemy import select

from consent_api.cohorts.models import PrivacyBudget
from server.db import db
from tests.conftest import bearer, org_id_of
from tests.support import problem_code

SCOPE = {"data_categories": ["lab_results"], "purposes": ["HRESCH"], "actions": ["use"]}
CONSENTING, OPTED_IN, QUERIES = 60, 50, 20
PREFERENCES = {
    "opted_in": True,
    "purposes": ["HRESCH"],
    "data_categories": ["lab_results"],
    "org_types": ["pharma"],
    "max_invitations_per_month": 2,
}


@pytest.fixture
def pharma_token(token_for):
    return token_for("pharma")


def _ask(client, token, **body):
    return client.post("/v1/cohort-counts", json={**SCOPE, **body}, headers=bearer(token))


def _opt_in(client, patient_token):
    answer = client.put(
        "/v1/me/research-preferences", json=PREFERENCES, headers=bearer(patient_token)
    )
    assert answer.status_code == 200, answer.json


def _spent(token) -> int:
    stored = db.session.scalar(
        select(PrivacyBudget.spent_micro).where(PrivacyBudget.org_id == org_id_of(token))
    )
    return stored or 0


def test_counts_are_answered_noised_with_their_noise_and_the_budget_left(
    client, grant, pharma_token
):
    for number in range(CONSENTING):
        _, _, patient = grant(grantee={"org_type": "pharma"}, **SCOPE)
        if number < OPTED_IN:
            _opt_in(client, patient)
    response = _ask(client, pharma_token, epsilon=1.0)
    assert response.status_code == 200, response.json
    body = response.json
    # Each count spends half of 1.0: scale 2, within 30 of the truth but once in a million.
    assert abs(body["consenting"]["count"] - CONSENTING) <= 30
    assert abs(body["invitable"]["count"] - OPTED_IN) <= 30
    assert body["consenting"]["below"] is None
    assert body["invitable"]["below"] is None
    assert body["epsilon"] == 1.0
    assert body["noise"] == {
        "mechanism": "discrete_laplace",
        "sensitivity": 1,
        "epsilon": 0.5,
        "scale": 2.0,
        "accuracy_95": body["noise"]["accuracy_95"],
    }
    assert body["budget"]["total_epsilon"] == 1.0  # the configured default
    assert body["budget"]["spent_epsilon"] == 1.0  # both counts: the query's epsilon, once
    assert body["budget"]["remaining_epsilon"] == 0.0
    assert body["budget"]["renews_every_days"] == 30


def test_small_cohorts_are_never_shown_below_the_threshold(
    client, grant, pharma_token, admin_token
):
    _, _, patient = grant(grantee={"org_type": "pharma"}, **SCOPE)
    _opt_in(client, patient)
    client.put(
        f"/v1/admin/orgs/{org_id_of(pharma_token)}/privacy-budget",
        json={"total_epsilon": 100, "renews_every_days": 30},
        headers=bearer(admin_token),
    )
    answers = [_ask(client, pharma_token, epsilon=1.0).json for _ in range(QUERIES)]
    released = [a[kind] for a in answers for kind in ("consenting", "invitable")]
    for count in released:
        assert count in ({"count": None, "below": 11},) or count["count"] >= 11
    # One patient, noise of scale 2: a noisy 11 or more comes once in 400 answers or so.
    suppressed = sum(count["count"] is None for count in released)
    assert suppressed >= len(released) - 6


def test_the_default_epsilon_is_a_tenth(client, pharma_token):
    body = _ask(client, pharma_token).json
    assert body["epsilon"] == 0.1
    assert body["noise"]["scale"] == pytest.approx(20)  # each count spends half
    assert body["budget"]["spent_epsilon"] == pytest.approx(0.1)


def test_queries_spend_the_budget_exactly_then_are_refused(client, pharma_token):
    for spent in range(1, 11):
        response = _ask(client, pharma_token, epsilon=0.1)
        assert response.status_code == 200, response.json
        assert _spent(pharma_token) == spent * 100_000  # exact, in millionths
    refused = _ask(client, pharma_token, epsilon=0.01)
    assert refused.status_code == 409
    assert problem_code(refused.json) == "privacy_budget_exhausted"
    assert refused.json["remaining_epsilon"] == 0.0
    assert _spent(pharma_token) == 1_000_000


def test_a_query_for_more_than_is_left_spends_nothing(client, pharma_token):
    assert _ask(client, pharma_token, epsilon=0.7).status_code == 200
    refused = _ask(client, pharma_token, epsilon=0.5)
    assert refused.status_code == 409
    assert refused.json["remaining_epsilon"] == pytest.approx(0.3)
    assert _spent(pharma_token) == 700_000
    assert _ask(client, pharma_token, epsilon=0.3).status_code == 200


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"data_categories": ["lab_results", "nonsense"]}, "data_categories"),
        ({"data_categories": []}, "data_categories"),
        ({"data_categories": ["all"]}, "data_categories"),
        ({"purposes": []}, "purposes"),
        ({"purposes": ["SNOOP"]}, "purposes"),
        ({"actions": ["sell"]}, "actions"),
        ({"epsilon": 0}, "epsilon"),
        ({"epsilon": 0.001}, "epsilon"),
        ({"epsilon": 1.5}, "epsilon"),
        ({"epsilon": "a lot"}, "epsilon"),
        ({"data_period": {"start": "2024-01-01", "end": "2023-01-01"}}, "data_period"),
        ({"patient_id": str(uuid.uuid4())}, "patient_id"),
    ],
)
def test_bad_input_is_a_422_naming_the_field_and_spends_nothing(
    client, pharma_token, change, field
):
    response = _ask(client, pharma_token, **change)
    assert response.status_code == 422, response.json
    assert field in response.json["errors"]
    assert _spent(pharma_token) == 0


def test_a_missing_scope_field_is_refused(client, pharma_token):
    response = client.post(
        "/v1/cohort-counts", json={"purposes": ["HRESCH"]}, headers=bearer(pharma_token)
    )
    assert response.status_code == 422
    assert {"data_categories", "actions"} <= set(response.json["errors"])


def test_a_token_without_the_cohort_scope_is_refused_and_spends_nothing(client, token_for):
    token = token_for("pharma", scopes="consent.read")
    response = _ask(client, token)
    assert response.status_code == 403
    assert problem_code(response.json) == "insufficient_scope"
    assert _spent(token) == 0


def test_the_answer_names_no_patient(client, grant, pharma_token):
    patients = [grant(grantee={"org_type": "pharma"}, **SCOPE)[0] for _ in range(15)]
    text = _ask(client, pharma_token, epsilon=0.5).get_data(as_text=True)
    assert not any(str(p.id) in text for p in patients)
