"""A data user with a paid consent (approved from its request), and an operator."""

import uuid
from datetime import timedelta

import pytest

from server.db import utcnow
from tests.conftest import bearer, ref, report, use_body
from tests.factories import PatientFactory


@pytest.fixture
def pharma(org_credentials):
    return org_credentials("pharma", name="Acme Pharma")


@pytest.fixture
def pharma_token(token_for, pharma):
    return token_for(registration=pharma)


@pytest.fixture
def paid(client, patient_token_for, pharma_token):
    """A patient approves a pharma request paying `fee` points per use; returns
    (patient, patient token, consent JSON)."""

    def make(fee: int = 100, *, patient=None, **scope):
        patient = patient or PatientFactory()
        token = patient_token_for(patient)
        asked = client.post(
            "/v1/consent-requests",
            json={
                "patient_ref": ref(pharma_token, patient),
                "data_categories": ["lab_results"],
                "purposes": ["HRESCH"],
                "actions": ["use"],
                "justification": "Kidney study",
                "fee_per_use": fee,
                "expires_at": (utcnow() + timedelta(days=7)).isoformat(),
                **scope,
            },
            headers=bearer(pharma_token),
        )
        assert asked.status_code == 201, asked.json
        approved = client.post(
            f"/v1/me/consent-requests/{asked.json['id']}/approve", headers=bearer(token)
        )
        assert approved.status_code == 201, approved.json
        return patient, token, approved.json

    return make


def paid_use(client, token, patient_id, **overrides):
    """Report a research use of lab results (under a paid consent, if there is one)."""
    body = use_body(ref(token, patient_id), purpose="HRESCH", **overrides)
    return report(client, token, body)


@pytest.fixture
def reward(client, admin_token):
    """The operator adds a reward costing `cost` points."""

    def make(cost: int = 50, name: str | None = None):
        response = client.post(
            "/v1/admin/rewards",
            json={"name": name or f"Voucher {uuid.uuid4().hex[:4]}", "cost": cost},
            headers=bearer(admin_token),
        )
        assert response.status_code == 201, response.json
        return response.json

    return make


def redeem(client, token, reward_id, *, key: str | None = None):
    headers = {**bearer(token), "Idempotency-Key": key or uuid.uuid4().hex}
    return client.post("/v1/me/points/redemptions", json={"reward_id": reward_id}, headers=headers)
