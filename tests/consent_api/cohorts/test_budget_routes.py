"""The operator sets each organisation's privacy budget and its renewal; a period that has
ended renews at the next query (lazily, in the spending UPDATE)."""

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import update

from consent_api.cohorts.models import PrivacyBudget
from server.db import db, utcnow
from tests.conftest import bearer, org_id_of
from tests.support import problem_code

SCOPE = {"data_categories": ["lab_results"], "purposes": ["HRESCH"], "actions": ["use"]}


@pytest.fixture
def pharma_token(token_for):
    return token_for("pharma")


def _path(token) -> str:
    return f"/v1/admin/orgs/{org_id_of(token)}/privacy-budget"


def _ask(client, token, epsilon):
    body = {**SCOPE, "epsilon": epsilon}
    return client.post("/v1/cohort-counts", json=body, headers=bearer(token))


def test_an_organisation_without_a_budget_has_the_default(client, admin_token, pharma_token):
    response = client.get(_path(pharma_token), headers=bearer(admin_token))
    assert response.status_code == 200, response.json
    body = response.json
    assert (body["total_epsilon"], body["spent_epsilon"], body["remaining_epsilon"]) == (1, 0, 1)
    assert body["renews_every_days"] == 30


def test_the_operator_sets_a_budget_that_queries_then_spend(client, admin_token, pharma_token):
    put = client.put(
        _path(pharma_token),
        json={"total_epsilon": 0.25, "renews_every_days": 7},
        headers=bearer(admin_token),
    )
    assert put.status_code == 200, put.json
    assert put.json["total_epsilon"] == 0.25
    assert put.json["renews_every_days"] == 7
    assert _ask(client, pharma_token, 0.2).json["budget"]["remaining_epsilon"] == pytest.approx(
        0.05
    )
    assert _ask(client, pharma_token, 0.1).status_code == 409
    shown = client.get(_path(pharma_token), headers=bearer(admin_token)).json
    assert shown["spent_epsilon"] == pytest.approx(0.2)


def test_raising_a_budget_keeps_what_was_spent(client, admin_token, pharma_token):
    assert _ask(client, pharma_token, 1.0).status_code == 200
    assert _ask(client, pharma_token, 0.5).status_code == 409
    client.put(
        _path(pharma_token),
        json={"total_epsilon": 1.5, "renews_every_days": 30},
        headers=bearer(admin_token),
    )
    assert _ask(client, pharma_token, 0.5).status_code == 200
    assert _ask(client, pharma_token, 0.01).status_code == 409


def test_a_spent_budget_renews_once_its_period_has_ended(client, admin_token, pharma_token):
    assert _ask(client, pharma_token, 1.0).status_code == 200
    assert _ask(client, pharma_token, 0.1).status_code == 409
    budget = db.session.get(PrivacyBudget, org_id_of(pharma_token))
    budget.period_started_at -= timedelta(days=30)  # as if the period had passed
    db.session.flush()
    assert client.get(_path(pharma_token), headers=bearer(admin_token)).json["spent_epsilon"] == 0
    renewed = _ask(client, pharma_token, 0.1)
    assert renewed.status_code == 200, renewed.json
    assert renewed.json["budget"]["spent_epsilon"] == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"total_epsilon": -1, "renews_every_days": 30}, "total_epsilon"),
        ({"total_epsilon": 1, "renews_every_days": 0}, "renews_every_days"),
        ({"total_epsilon": 1}, "renews_every_days"),
        ({"total_epsilon": 1, "renews_every_days": 30, "spent_epsilon": 0}, "spent_epsilon"),
    ],
)
def test_a_bad_budget_is_a_422_naming_the_field(client, admin_token, pharma_token, body, field):
    response = client.put(_path(pharma_token), json=body, headers=bearer(admin_token))
    assert response.status_code == 422
    assert field in response.json["errors"]


def test_an_unknown_organisation_has_no_budget(client, admin_token):
    path = f"/v1/admin/orgs/{uuid.uuid4()}/privacy-budget"
    assert problem_code(client.get(path, headers=bearer(admin_token)).json) == "not_found"
    put = client.put(
        path, json={"total_epsilon": 1, "renews_every_days": 30}, headers=bearer(admin_token)
    )
    assert put.status_code == 404


@pytest.mark.parametrize("epsilon", ["0.5", "1e-2"])
def test_an_epsilon_sent_as_a_string_is_refused_and_spends_nothing(client, pharma_token, epsilon):
    """openapi.yaml CohortCountIn: `epsilon` is a number (0.01-1); invalid input is a 422
    naming it, and spends nothing. A JSON string is spent as if it were the number."""
    answer = client.post(
        "/v1/cohort-counts", json={**SCOPE, "epsilon": epsilon}, headers=bearer(pharma_token)
    )
    assert answer.status_code == 422, answer.json
    assert "epsilon" in answer.json["errors"]
    spent = db.session.get(PrivacyBudget, org_id_of(pharma_token))
    assert spent is None or spent.spent_micro == 0


def test_a_privacy_budget_sent_as_a_string_is_refused(client, pharma_token, admin_token):
    """openapi.yaml PrivacyBudgetIn: `total_epsilon` is a number; a string is a 422."""
    answer = client.put(
        f"/v1/admin/orgs/{org_id_of(pharma_token)}/privacy-budget",
        json={"total_epsilon": "100", "renews_every_days": 30},
        headers=bearer(admin_token),
    )
    assert answer.status_code == 422, answer.json
    assert "total_epsilon" in answer.json["errors"]


def test_setting_a_budget_does_not_bring_back_an_ended_periods_spending(
    client, pharma_token, admin_token
):
    """openapi.yaml: a period that has ended reads as renewed; setting a budget keeps what
    was spent in the *current* period. Forty days after a 30-day period was spent in full,
    the budget reads renewed (nothing spent); the operator then sets 60 days, and the old
    period's spending comes back: nothing left, queries refused for twenty more days."""
    asked = client.post(
        "/v1/cohort-counts", json={**SCOPE, "epsilon": 1.0}, headers=bearer(pharma_token)
    )
    assert asked.status_code == 200, asked.json
    org_id = org_id_of(pharma_token)
    db.session.execute(
        update(PrivacyBudget)
        .where(PrivacyBudget.org_id == org_id)
        .values(period_started_at=utcnow() - timedelta(days=40))
    )
    url = f"/v1/admin/orgs/{org_id}/privacy-budget"
    before = client.get(url, headers=bearer(admin_token)).json
    assert before["spent_epsilon"] == 0.0  # the period ended ten days ago: renewed

    after = client.put(
        url, json={"total_epsilon": 1.0, "renews_every_days": 60}, headers=bearer(admin_token)
    )

    assert after.status_code == 200, after.json
    assert after.json["spent_epsilon"] == 0.0, after.json
    again = client.post(
        "/v1/cohort-counts", json={**SCOPE, "epsilon": 0.5}, headers=bearer(pharma_token)
    )
    assert again.status_code == 200, (again.status_code, problem_code(again.json))
