"""FHIR vread and history of a consent: every version as it was, under the read's rules."""

from __future__ import annotations

import json

import pytest
from fhir.resources.bundle import Bundle
from fhir.resources.consent import Consent as FhirConsent

from tests.conftest import bearer, ref, shown
from tests.consent_api.fhir.conftest import FHIR_JSON, grant
from tests.support import problem_code

PURPOSE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActReason"


def vread(client, token: str, consent_id, version) -> dict:
    """Read one version; expect a valid R5 Consent and return it."""
    response = client.get(
        f"/fhir/R5/Consent/{consent_id}/_history/{version}", headers=bearer(token)
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == FHIR_JSON
    assert response.headers["ETag"] == f'W/"{version}"'
    FhirConsent.model_validate(response.json)
    return response.json


def history(client, token: str, consent_id) -> dict:
    """Read a consent's history; expect a valid history Bundle and return it."""
    response = client.get(f"/fhir/R5/Consent/{consent_id}/_history", headers=bearer(token))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == FHIR_JSON
    Bundle.model_validate(response.json)
    for entry in response.json["entry"]:
        FhirConsent.model_validate(entry["resource"])
    return response.json


def purposes(resource: dict) -> list[str]:
    return [c["code"] for c in resource["provision"][0]["purpose"] if c["system"] == PURPOSE_SYSTEM]


@pytest.fixture
def changed(client, patient_token, hospital) -> dict:
    """A consent granted to the hospital for treatment, then widened to research, then
    paused: three versions."""
    made = grant(client, patient_token, {"org_id": str(hospital.org.id)})
    path = f"/v1/me/consents/{made['id']}"
    amended = client.patch(
        path, json={"purposes": ["TREAT", "HRESCH"]}, headers=bearer(patient_token)
    )
    assert amended.status_code == 200, amended.json
    paused = client.post(f"{path}/pause", headers=bearer(patient_token))
    assert paused.status_code == 200, paused.json
    return made


def test_vread_gives_a_version_as_it_was(client, patient_token, changed):
    first = vread(client, patient_token, changed["id"], 1)
    second = vread(client, patient_token, changed["id"], 2)

    assert first["meta"]["versionId"] == "1"
    assert purposes(first) == ["TREAT"]
    assert first["status"] == "active"
    assert purposes(second) == ["TREAT", "HRESCH"]


def test_vread_of_the_current_version_is_the_read(client, patient_token, changed):
    current = client.get(f"/fhir/R5/Consent/{changed['id']}", headers=bearer(patient_token))

    assert vread(client, patient_token, changed["id"], 3) == current.json


def test_history_lists_every_version_newest_first(client, patient, patient_token, changed):
    bundle = history(client, patient_token, changed["id"])

    assert bundle["type"] == "history"
    assert bundle["total"] == 3
    resources = [entry["resource"] for entry in bundle["entry"]]
    assert [r["meta"]["versionId"] for r in resources] == ["3", "2", "1"]
    assert [r["status"] for r in resources] == ["inactive", "active", "active"]
    assert [purposes(r) for r in resources] == [["TREAT", "HRESCH"]] * 2 + [["TREAT"]]
    requests = [entry["request"] for entry in bundle["entry"]]
    consent_path = f"Consent/{changed['id']}"
    assert requests == [
        {"method": "PUT", "url": consent_path},
        {"method": "PUT", "url": consent_path},
        {"method": "POST", "url": "Consent"},
    ]
    for entry in bundle["entry"]:
        version = entry["resource"]["meta"]["versionId"]
        assert entry["fullUrl"] == f"http://localhost/fhir/R5/{consent_path}"
        assert entry["response"]["etag"] == f'W/"{version}"'
        assert entry["response"]["lastModified"] == entry["resource"]["meta"]["lastUpdated"]
    assert [e["response"]["status"] for e in bundle["entry"]] == ["200 OK", "200 OK", "201 Created"]
    [self_link] = bundle["link"]
    assert self_link == {
        "relation": "self",
        "url": f"http://localhost/fhir/R5/{consent_path}/_history",
    }
    assert all(r["subject"] == {"reference": f"Patient/{patient.id}"} for r in resources)


def test_a_version_that_never_was_is_not_found(client, patient_token, changed):
    for version in (0, 4):
        response = client.get(
            f"/fhir/R5/Consent/{changed['id']}/_history/{version}", headers=bearer(patient_token)
        )
        assert response.status_code == 404
        assert problem_code(response.json) == "not_found"


def test_vread_of_the_version_the_client_holds_is_not_modified(client, patient_token, changed):
    response = client.get(
        f"/fhir/R5/Consent/{changed['id']}/_history/1",
        headers={**bearer(patient_token), "If-None-Match": 'W/"1"'},
    )

    assert response.status_code == 304
    assert response.headers["ETag"] == 'W/"1"'


def test_org_reads_each_version_as_it_sees_the_consent(
    client, patient, patient_token, hospital, hospital_token, org_credentials
):
    other = org_credentials("hospital").org
    made = grant(client, patient_token, {"org_type": "hospital"})
    excluding = {
        "exclusions": [{"org_ids": [str(other.id)]}, {"purposes": ["HMARKT"]}],
    }
    amended = client.patch(
        f"/v1/me/consents/{made['id']}", json=excluding, headers=bearer(patient_token)
    )
    assert amended.status_code == 200, amended.json
    again = client.patch(
        f"/v1/me/consents/{made['id']}", json={"max_uses": 3}, headers=bearer(patient_token)
    )
    assert again.status_code == 200, again.json
    its_id = shown(hospital_token, made["id"])

    bundle = history(client, hospital_token, its_id)
    version_two = vread(client, hospital_token, its_id, 2)

    assert [e["resource"]["id"] for e in bundle["entry"]] == [its_id] * 3
    assert bundle["entry"][1]["resource"] == version_two
    assert version_two["subject"] == {"reference": f"Patient/{ref(hospital_token, patient)}"}
    [everyones] = version_two["provision"][0]["provision"]  # not the other hospital's
    assert [c["code"] for c in everyones["purpose"]] == ["HMARKT"]
    text = json.dumps(bundle)
    for private in (str(other.id), made["id"], str(patient.id)):
        assert private not in text


@pytest.mark.parametrize("path", ["_history", "_history/1"])
def test_org_gets_404_for_the_history_of_a_consent_granted_to_another(
    client, patient_token, hospital_token, org_credentials, path
):
    other = org_credentials("hospital").org
    made = grant(client, patient_token, {"org_id": str(other.id)})

    for named in (made["id"], shown(other, made["id"]), shown(hospital_token, made["id"])):
        response = client.get(f"/fhir/R5/Consent/{named}/{path}", headers=bearer(hospital_token))
        assert response.status_code == 404
        assert problem_code(response.json) == "not_found"


@pytest.mark.parametrize("path", ["_history", "_history/1"])
def test_patient_gets_404_for_the_history_of_another_patients_consent(
    client, patient_token, patient_token_for, hospital, path
):
    from tests.factories import PatientFactory

    made = grant(client, patient_token, {"org_id": str(hospital.org.id)})
    stranger = patient_token_for(PatientFactory())

    response = client.get(f"/fhir/R5/Consent/{made['id']}/{path}", headers=bearer(stranger))

    assert response.status_code == 404
