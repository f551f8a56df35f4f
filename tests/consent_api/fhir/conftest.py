"""What the FHIR tests share: a hospital that reads consents, and granting through the API."""

from __future__ import annotations

import pytest

from tests.conftest import bearer

FHIR_JSON = "application/fhir+json"


def grant(client, token: str, grantee: dict, **terms) -> dict:
    """Grant a consent through the patient API and return its JSON."""
    body = {
        "grantee": grantee,
        "data_categories": ["diagnoses"],
        "purposes": ["TREAT"],
        "actions": ["access"],
        **terms,
    }
    response = client.post("/v1/me/consents", json=body, headers=bearer(token))
    assert response.status_code == 201, response.json
    return response.json


@pytest.fixture
def hospital(org_credentials):
    """A hospital registration (organisation and client)."""
    return org_credentials("hospital", name="St Mary's")


@pytest.fixture
def hospital_token(token_for, hospital) -> str:
    """The hospital's token with consent.read."""
    return token_for(registration=hospital, scopes="consent.read")
