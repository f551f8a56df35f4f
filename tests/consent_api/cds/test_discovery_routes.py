"""GET /cds-services: CDS Hooks discovery of the one service we offer."""

from __future__ import annotations

from tests.conftest import bearer
from tests.consent_api.cds.conftest import schema_errors


def test_discovery_lists_the_patient_consent_consult_service(client, hospital_token):
    response = client.get("/cds-services", headers=bearer(hospital_token))
    assert response.status_code == 200
    assert schema_errors("discovery-response", response.json) == []
    (service,) = response.json["services"]
    assert (service["id"], service["hook"]) == (
        "patient-consent-consult",
        "patient-consent-consult",
    )
    assert "prefetch" not in service  # we read no FHIR data of the client's
    assert "consent.check" in service["usageRequirements"]


def test_discovery_needs_the_consent_check_scope(client, token_for):
    narrowed = token_for("hospital", scopes="consent.read")
    response = client.get("/cds-services", headers=bearer(narrowed))
    assert response.status_code == 403
    assert response.json["code"] == "insufficient_scope"


def test_discovery_needs_a_token(client):
    response = client.get("/cds-services")
    assert response.status_code == 401
    assert response.json["code"] == "unauthorized"
