"""What the studies' tests share: a pharma organisation's token, patients opted in to
research, and studies the operator approved."""

from __future__ import annotations

import pytest

from tests import factories
from tests.conftest import bearer
from tests.consent_api.studies.test_studies_routes import study_body

ACCEPTS = {
    "opted_in": True,
    "purposes": ["HRESCH", "CLINTRL"],
    "data_categories": ["lab_results", "medications"],
    "org_types": ["pharma", "research"],
    "max_invitations_per_month": 2,
}


@pytest.fixture
def pharma_token(token_for):
    return token_for("pharma")


@pytest.fixture
def opted_in(client, patient_token_for):
    """Make patients with these research preferences; each with their token."""

    def make(count: int = 1, **preferences):
        made = []
        for _ in range(count):
            someone = factories.PatientFactory()
            token = patient_token_for(someone)
            answer = client.put(
                "/v1/me/research-preferences",
                json={**ACCEPTS, **preferences},
                headers=bearer(token),
            )
            assert answer.status_code == 200, answer.json
            made.append((someone, token))
        return made

    return make


@pytest.fixture
def approved_study(client, pharma_token, admin_token):
    """Register a study as the pharma organisation, and have the operator approve it."""

    def make(token=None, **overrides):
        made = client.post(
            "/v1/studies", json=study_body(**overrides), headers=bearer(token or pharma_token)
        )
        assert made.status_code == 201, made.json
        approved = client.post(
            f"/v1/admin/studies/{made.json['id']}/approve", headers=bearer(admin_token)
        )
        assert approved.status_code == 200, approved.json
        return approved.json

    return make
