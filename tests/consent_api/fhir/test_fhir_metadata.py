"""The FHIR server's CapabilityStatement: what a hospital's engineer's client discovers."""

from __future__ import annotations

from fhir.resources.capabilitystatement import CapabilityStatement

from tests.consent_api.fhir.conftest import FHIR_JSON

OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"


def metadata(client, **headers) -> dict:
    response = client.get("/fhir/R5/metadata", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == FHIR_JSON
    CapabilityStatement.model_validate(response.json)
    return response.json


def test_metadata_is_an_r5_capability_statement_of_this_instance(client):
    statement = metadata(client)

    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["status"] == "active"
    assert statement["kind"] == "instance"
    assert statement["fhirVersion"] == "5.0.0"
    assert statement["format"] == ["json"]
    assert statement["implementation"]["url"] == "http://localhost/fhir/R5"


def test_metadata_needs_no_token_and_ignores_a_bad_one(client):
    assert metadata(client, Authorization="Bearer not-a-token")["kind"] == "instance"


def test_metadata_lists_consent_with_its_interactions_and_search_parameters(client):
    [rest] = metadata(client)["rest"]

    assert rest["mode"] == "server"
    [consent] = rest["resource"]
    assert consent["type"] == "Consent"
    assert [i["code"] for i in consent["interaction"]] == [
        "read",
        "vread",
        "search-type",
        "history-instance",
    ]
    assert consent["versioning"] == "versioned"
    assert consent["readHistory"] is True
    assert consent["conditionalRead"] == "full-support"
    params = {p["name"]: p["type"] for p in consent["searchParam"]}
    assert params == {"patient": "reference", "status": "token", "_lastUpdated": "date"}


def test_metadata_names_smart_on_fhir_and_its_oauth_endpoints(client):
    [rest] = metadata(client)["rest"]

    security = rest["security"]
    [service] = security["service"]
    assert service["coding"][0]["code"] == "SMART-on-FHIR"
    assert service["coding"][0]["system"] == "http://hl7.org/fhir/restful-security-service"
    [uris] = [e for e in security["extension"] if e["url"] == OAUTH_URIS]
    endpoints = {e["url"]: e["valueUri"] for e in uris["extension"]}
    assert endpoints == {
        "token": "http://localhost/oauth/token",
        "authorize": "http://localhost/oauth/authorize",
        "revoke": "http://localhost/oauth/revoke",
    }
