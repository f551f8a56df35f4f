"""The privacy budget under real concurrency: many cohort counts at once from several app
instances (as separate processes would be), each with its own connections and real commits.
Exactly as many succeed as the budget pays for, and it is spent to the last millionth."""

import pytest
from sqlalchemy import select

from consent_api.cohorts.models import PrivacyBudget
from consent_api.registration import service as registrations
from server.app import create_app
from server.db import db
from tests.conftest import app_config, basic_auth, wipe_committed
from tests.support import dispose, race

THREADS, PER_THREAD = 6, 5
EPSILON = 0.1  # ten of these spend the default budget of 1.0; thirty are asked
SCOPE = {"data_categories": ["lab_results"], "purposes": ["HRESCH"], "actions": ["use"]}


@pytest.fixture
def pharma(app, database_url):
    setup = create_app(app_config(database_url))
    with setup.app_context():
        registration = registrations.register_org(name="Acme Pharma", type="pharma")
        org_id, credentials = (
            registration.org.id,
            (registration.client.client_id, registration.client_secret),
        )
        db.session.commit()
        answer = setup.test_client().post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers=basic_auth(*credentials),
        )
        token = answer.json["access_token"]
        db.session.remove()
    yield setup, org_id, token
    wipe_committed(setup)


def test_concurrent_queries_never_spend_more_than_the_budget(pharma, database_url):
    setup, org_id, token = pharma
    apps = [create_app(app_config(database_url)) for _ in range(THREADS)]

    def asker(application):
        def ask():
            client = application.test_client()
            return [
                client.post(
                    "/v1/cohort-counts",
                    json={**SCOPE, "epsilon": EPSILON},
                    headers={"Authorization": f"Bearer {token}"},
                ).status_code
                for _ in range(PER_THREAD)
            ]

        return ask

    try:
        statuses = [s for answers in race([asker(a) for a in apps]) for s in answers]
    finally:
        dispose(*apps)
    assert sorted(set(statuses)) == [200, 409]
    assert statuses.count(200) == 10
    with setup.app_context():
        spent = db.session.scalar(
            select(PrivacyBudget.spent_micro).where(PrivacyBudget.org_id == org_id)
        )
        db.session.remove()
    assert spent == 1_000_000
