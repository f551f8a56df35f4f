"""FHIR R5 consents over HTTP: read and search, for patients and organisations.

fhir.resources checks structure and cardinality, not code values, so each test also checks
the codes and systems it relies on.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fhir.resources.bundle import Bundle
from fhir.resources.consent import Consent as FhirConsent

from consent_api import catalog
from consent_api.consents.models import Consent
from server.app import create_app
from server.db import db
from tests.conftest import CommittingClient, app_config, bearer, ref, shown
from tests.consent_api.fhir.conftest import FHIR_JSON, grant
from tests.support import problem_code

ACTION_SYSTEM = "http://terminology.hl7.org/CodeSystem/consentaction"
PURPOSE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
CATEGORY_SYSTEM = "https://consent-wallet.example/fhir/CodeSystem/data-category"
ACT_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
PARTICIPATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
STATE_URL = "https://consent-wallet.example/fhir/StructureDefinition/consent-state"


# --- helpers -------------------------------------------------------------------------------


def read(client, token: str, consent_id) -> dict:
    """Read a consent as FHIR; expect a valid R5 Consent and return it."""
    response = client.get(f"/fhir/R5/Consent/{consent_id}", headers=bearer(token))
    assert response.status_code == 200, response.json
    assert response.mimetype == FHIR_JSON
    FhirConsent.model_validate(response.json)
    return response.json


def search(client, token: str, patient) -> dict:
    """Search consents as FHIR; expect a valid searchset Bundle of valid Consents."""
    response = client.get(
        "/fhir/R5/Consent", query_string={"patient": patient}, headers=bearer(token)
    )
    assert response.status_code == 200, response.json
    assert response.mimetype == FHIR_JSON
    Bundle.model_validate(response.json)
    for entry in response.json.get("entry", []):
        FhirConsent.model_validate(entry["resource"])
    return response.json


def codes(codings: list[dict], system: str) -> list[str]:
    """The codes of one system among some codings."""
    return [c["code"] for c in codings if c["system"] == system]


def concept_codes(concepts: list[dict], system: str) -> list[str]:
    """The codes of one system among some CodeableConcepts."""
    return [code for concept in concepts for code in codes(concept["coding"], system)]


def org_ref(org_id) -> str:
    return f"Organization/{org_id}"


# --- the rendered resource ---------------------------------------------------------------


def test_patient_reads_own_consent_as_a_valid_fhir_r5_consent(
    client, patient, patient_token, hospital
):
    valid_until = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    made = grant(
        client,
        patient_token,
        {"org_id": str(hospital.org.id)},
        data_categories=["diagnoses", "genomics"],
        purposes=["TREAT", "HRESCH"],
        actions=["access", "use"],
        data_period={"start": "2020-01-01", "end": "2024-12-31"},
        valid_until=valid_until.isoformat(),
    )

    resource = read(client, patient_token, made["id"])

    assert resource["resourceType"] == "Consent"
    assert resource["id"] == made["id"]
    assert resource["meta"]["versionId"] == "1"
    assert resource["status"] == "active"
    assert resource["decision"] == "permit"
    assert concept_codes(resource["category"], "http://loinc.org") == ["59284-0"]
    assert resource["subject"] == {"reference": f"Patient/{patient.id}"}
    assert resource["grantor"] == [{"reference": f"Patient/{patient.id}"}]
    assert resource["date"] == made["created_at"][:10]
    assert datetime.fromisoformat(resource["period"]["start"]) == datetime.fromisoformat(
        made["valid_from"]
    )
    assert datetime.fromisoformat(resource["period"]["end"]) == valid_until
    grantee = {
        "reference": org_ref(hospital.org.id),
        "type": "Organization",
        "display": "St Mary's",
    }
    assert resource["grantee"] == [grantee]

    [provision] = resource["provision"]
    [actor] = provision["actor"]
    assert codes(actor["role"]["coding"], PARTICIPATION_SYSTEM) == ["IRCP"]
    assert actor["reference"] == grantee
    assert concept_codes(provision["action"], ACTION_SYSTEM) == ["access", "use"]
    assert codes(provision["purpose"], PURPOSE_SYSTEM) == ["TREAT", "HRESCH"]
    assert concept_codes(provision["code"], CATEGORY_SYSTEM) == ["diagnoses", "genomics"]
    assert concept_codes(provision["code"], ACT_CODE_SYSTEM) == ["GDIS"]
    assert provision["dataPeriod"] == {"start": "2020-01-01", "end": "2024-12-31"}
    assert "provision" not in provision  # no exclusions, no exceptions


def test_read_sends_the_version_as_a_weak_etag(client, patient_token, hospital):
    made = grant(client, patient_token, {"org_id": str(hospital.org.id)})
    response = client.get(f"/fhir/R5/Consent/{made['id']}", headers=bearer(patient_token))
    assert response.headers["ETag"] == 'W/"1"'


def test_read_sends_last_updated_as_last_modified(client, patient_token, hospital):
    made = grant(client, patient_token, {"org_id": str(hospital.org.id)})
    response = client.get(f"/fhir/R5/Consent/{made['id']}", headers=bearer(patient_token))
    last_updated = datetime.fromisoformat(response.json["meta"]["lastUpdated"])
    assert response.last_modified == last_updated.replace(microsecond=0)


@pytest.mark.parametrize("etag", ['W/"1"', '"1"', 'W/"7", W/"1"', "*"])
def test_read_of_the_version_the_client_holds_is_not_modified(
    client, patient_token, hospital, etag
):
    made = grant(client, patient_token, {"org_id": str(hospital.org.id)})

    response = client.get(
        f"/fhir/R5/Consent/{made['id']}",
        headers={**bearer(patient_token), "If-None-Match": etag},
    )

    assert response.status_code == 304
    assert response.data == b""
    assert response.headers["ETag"] == 'W/"1"'


def test_read_after_a_change_is_the_new_version_whatever_the_client_holds(
    client, patient_token, hospital
):
    made = grant(client, patient_token, {"org_id": str(hospital.org.id)})
    first = client.get(f"/fhir/R5/Consent/{made['id']}", headers=bearer(patient_token))
    client.post(f"/v1/me/consents/{made['id']}/pause", headers=bearer(patient_token))

    response = client.get(
        f"/fhir/R5/Consent/{made['id']}",
        headers={**bearer(patient_token), "If-None-Match": first.headers["ETag"]},
    )

    assert response.status_code == 200
    assert response.headers["ETag"] == 'W/"2"'
    assert response.json["meta"]["versionId"] == "2"


def test_read_is_not_modified_since_its_last_modified(client, patient_token, hospital):
    made = grant(client, patient_token, {"org_id": str(hospital.org.id)})
    first = client.get(f"/fhir/R5/Consent/{made['id']}", headers=bearer(patient_token))
    since = first.headers["Last-Modified"]

    response = client.get(
        f"/fhir/R5/Consent/{made['id']}",
        headers={**bearer(patient_token), "If-Modified-Since": since},
    )

    assert response.status_code == 304


def test_an_if_modified_since_in_the_future_is_ignored(client, patient_token, hospital):
    """RFC 9110 13.1.3: a date later than the server's clock is not a valid condition
    (review finding: it answered 304)."""
    made = grant(client, patient_token, {"org_id": str(hospital.org.id)})
    response = client.get(
        f"/fhir/R5/Consent/{made['id']}",
        headers={**bearer(patient_token), "If-Modified-Since": "Fri, 01 Jan 2099 00:00:00 GMT"},
    )
    assert response.status_code == 200
    assert response.json["id"] == made["id"]


def test_a_consent_the_caller_may_not_see_is_404_whatever_etag_it_sends(
    client, patient_token, hospital_token, org_credentials
):
    other = org_credentials("hospital").org
    made = grant(client, patient_token, {"org_id": str(other.id)})

    response = client.get(
        f"/fhir/R5/Consent/{shown(hospital_token, made['id'])}",
        headers={**bearer(hospital_token), "If-None-Match": "*"},
    )

    assert response.status_code == 404


def test_all_means_every_non_sensitive_category_plus_the_sensitive_ones_named(
    client, patient_token, hospital
):
    made = grant(
        client,
        patient_token,
        {"org_id": str(hospital.org.id)},
        data_categories=["all", "mental_health"],
    )

    [provision] = read(client, patient_token, made["id"])["provision"]

    non_sensitive = [c for c in catalog.CATEGORIES if c not in catalog.SENSITIVE]
    assert concept_codes(provision["code"], CATEGORY_SYSTEM) == [*non_sensitive, "mental_health"]
    assert concept_codes(provision["code"], ACT_CODE_SYSTEM) == ["MH"]
    assert "all" not in concept_codes(provision["code"], CATEGORY_SYSTEM)


def test_exclusions_become_nested_deny_provisions(client, patient_token, hospital, org_credentials):
    other = org_credentials("hospital").org
    made = grant(
        client,
        patient_token,
        {"org_type": "hospital"},
        data_categories=["all"],
        purposes=["TREAT", "HMARKT"],
        exclusions=[
            {"data_categories": ["imaging", "substance_use"], "purposes": ["HMARKT"]},
            {"org_ids": [str(other.id)]},
        ],
    )

    [provision] = read(client, patient_token, made["id"])["provision"]

    # Nested provisions of a permit are its exceptions: denies, which carry no action of
    # their own (an exclusion stops every action).
    by_purpose, by_org = provision["provision"]
    assert concept_codes(by_purpose["code"], CATEGORY_SYSTEM) == ["imaging", "substance_use"]
    assert concept_codes(by_purpose["code"], ACT_CODE_SYSTEM) == ["ETH"]
    assert codes(by_purpose["purpose"], PURPOSE_SYSTEM) == ["HMARKT"]
    assert "actor" not in by_purpose
    assert "action" not in by_purpose
    [excluded] = by_org["actor"]
    assert excluded["reference"]["reference"] == org_ref(other.id)
    assert codes(excluded["role"]["coding"], PARTICIPATION_SYSTEM) == ["IRCP"]
    assert set(by_org) == {"actor"}


def test_grantee_by_type_is_a_display_only_reference(client, patient_token):
    made = grant(client, patient_token, {"org_type": "research"})

    resource = read(client, patient_token, made["id"])

    grantee = {"type": "Organization", "display": "Every organisation of type research"}
    assert resource["grantee"] == [grantee]
    assert resource["provision"][0]["actor"][0]["reference"] == grantee


def state(resource: dict) -> list[str]:
    """Our consent-state extension's codes on a Consent."""
    return [e["valueCode"] for e in resource.get("extension", []) if e["url"] == STATE_URL]


def test_an_active_consent_says_so_in_its_state_too(client, patient_token, hospital):
    made = grant(client, patient_token, {"org_id": str(hospital.org.id)})

    resource = read(client, patient_token, made["id"])

    assert resource["status"] == "active"
    assert state(resource) == ["active"]


@pytest.mark.parametrize(("change", "code"), [("pause", "paused"), ("revoke", "revoked")])
def test_paused_or_revoked_consent_is_inactive_and_says_which_in_its_new_version(
    client, patient_token, hospital, change, code
):
    made = grant(client, patient_token, {"org_id": str(hospital.org.id)})
    changed = client.post(f"/v1/me/consents/{made['id']}/{change}", headers=bearer(patient_token))
    assert changed.status_code == 200, changed.json

    resource = read(client, patient_token, made["id"])

    assert resource["status"] == "inactive"
    assert state(resource) == [code]
    assert resource["meta"]["versionId"] == "2"


def test_consent_past_its_validity_is_inactive_and_expired(client, patient_token, hospital):
    made = grant(client, patient_token, {"org_id": str(hospital.org.id)})
    # Time passes: the validity ended, and the sweep job has not marked it expired yet.
    stored = db.session.get(Consent, uuid.UUID(made["id"]))
    stored.valid_until = datetime.now(UTC) - timedelta(minutes=1)
    db.session.flush()

    resource = read(client, patient_token, made["id"])

    assert resource["status"] == "inactive"
    assert state(resource) == ["expired"]
    assert "end" in resource["period"]


# --- who may read what -------------------------------------------------------------------


@pytest.mark.parametrize("by", ["org_id", "org_type"])
def test_org_reads_a_consent_granted_to_it(
    client, patient, patient_token, hospital, hospital_token, by
):
    grantee = {"org_id": str(hospital.org.id)} if by == "org_id" else {"org_type": "hospital"}
    made = grant(client, patient_token, grantee)

    resource = read(client, hospital_token, shown(hospital_token, made["id"]))

    assert resource["id"] == shown(hospital_token, made["id"])
    # The patient as the hospital knows them, never by the wallet's own id.
    assert resource["subject"] == {"reference": f"Patient/{ref(hospital_token, patient)}"}
    assert str(patient.id) not in str(resource)


def test_org_gets_404_for_a_consent_granted_to_another_org(
    client, patient_token, hospital_token, org_credentials
):
    other = org_credentials("hospital").org
    made = grant(client, patient_token, {"org_id": str(other.id)})

    for named in (made["id"], shown(other, made["id"])):  # its own id, or as the other sees it
        response = client.get(f"/fhir/R5/Consent/{named}", headers=bearer(hospital_token))
        assert response.status_code == 404
    assert response.mimetype == FHIR_JSON
    assert problem_code(response.json) == "not_found"


def test_org_does_not_see_exclusions_naming_other_orgs(
    client, patient_token, hospital, hospital_token, org_credentials
):
    other = org_credentials("hospital").org
    made = grant(
        client,
        patient_token,
        {"org_type": "hospital"},
        exclusions=[
            {"org_ids": [str(other.id)]},
            {"org_ids": [str(hospital.org.id), str(other.id)], "purposes": ["HRESCH"]},
            {"purposes": ["HMARKT"]},
        ],
    )

    resource = read(client, hospital_token, shown(hospital_token, made["id"]))

    assert str(other.id) not in json.dumps(resource)
    mine, everyones = resource["provision"][0]["provision"]
    assert [a["reference"]["reference"] for a in mine["actor"]] == [org_ref(hospital.org.id)]
    assert codes(mine["purpose"], PURPOSE_SYSTEM) == ["HRESCH"]
    assert codes(everyones["purpose"], PURPOSE_SYSTEM) == ["HMARKT"]
    assert "actor" not in everyones


def test_patient_cannot_read_another_patients_consent(
    client, patient_token_for, patient_token, hospital
):
    from tests.factories import PatientFactory

    made = grant(client, patient_token, {"org_id": str(hospital.org.id)})
    stranger = patient_token_for(PatientFactory())

    response = client.get(f"/fhir/R5/Consent/{made['id']}", headers=bearer(stranger))

    assert response.status_code == 404
    assert problem_code(response.json) == "not_found"


def test_unknown_consent_is_404(client, patient_token):
    response = client.get(f"/fhir/R5/Consent/{uuid.uuid4()}", headers=bearer(patient_token))
    assert response.status_code == 404


def test_token_without_a_reading_scope_is_refused(client, token_for, hospital):
    token = token_for(registration=hospital, scopes="consent.check")
    response = client.get(f"/fhir/R5/Consent/{uuid.uuid4()}", headers=bearer(token))
    assert response.status_code == 403
    assert problem_code(response.json) == "insufficient_scope"


# --- search ----------------------------------------------------------------------------------


def test_search_returns_the_patients_consents_as_a_searchset_bundle(
    client, patient, patient_token, hospital
):
    first = grant(client, patient_token, {"org_id": str(hospital.org.id)})
    second = grant(client, patient_token, {"org_type": "insurer"}, purposes=["HPAYMT"])

    bundle = search(client, patient_token, str(patient.id))

    assert bundle["type"] == "searchset"
    assert bundle["total"] == 2
    assert [e["resource"]["id"] for e in bundle["entry"]] == [first["id"], second["id"]]
    for entry in bundle["entry"]:
        assert entry["fullUrl"].endswith(f"/fhir/R5/Consent/{entry['resource']['id']}")
        assert entry["fullUrl"].startswith("http")
        assert entry["search"] == {"mode": "match"}
    [self_link] = bundle["link"]
    assert self_link["relation"] == "self"
    assert self_link["url"].endswith(f"/fhir/R5/Consent?patient={patient.id}")


def test_search_accepts_a_patient_reference(client, patient, patient_token, hospital):
    grant(client, patient_token, {"org_id": str(hospital.org.id)})
    assert search(client, patient_token, f"Patient/{patient.id}")["total"] == 1


def test_patient_searching_another_patient_gets_an_empty_bundle(
    client, patient_token_for, patient, patient_token, hospital
):
    from tests.factories import PatientFactory

    grant(client, patient_token, {"org_id": str(hospital.org.id)})
    stranger = patient_token_for(PatientFactory())

    bundle = search(client, stranger, str(patient.id))

    assert bundle["total"] == 0
    assert "entry" not in bundle  # FHIR JSON never holds an empty array


def test_org_search_returns_only_the_consents_granted_to_it(
    client, patient, patient_token, hospital, hospital_token, org_credentials
):
    other = org_credentials("hospital").org
    mine = grant(client, patient_token, {"org_id": str(hospital.org.id)})
    grant(client, patient_token, {"org_id": str(other.id)})
    by_type = grant(client, patient_token, {"org_type": "hospital"})
    grant(client, patient_token, {"org_type": "insurer"})

    bundle = search(client, hospital_token, ref(hospital_token, patient))

    assert [e["resource"]["id"] for e in bundle["entry"]] == [
        shown(hospital_token, mine["id"]),
        shown(hospital_token, by_type["id"]),
    ]
    assert bundle["total"] == 2


@pytest.mark.parametrize("patient_param", [None, "not-a-uuid", "Patient/"])
def test_search_needs_a_patient_id(client, patient_token, patient_param):
    query = {} if patient_param is None else {"patient": patient_param}
    response = client.get("/fhir/R5/Consent", query_string=query, headers=bearer(patient_token))
    assert response.status_code == 422
    assert response.mimetype == FHIR_JSON
    assert [i["expression"] for i in response.json["issue"]] == [["patient"]]


@pytest.fixture
def deployed(app, database_url, session):
    """The app as deployed at a configured public URL. Made before the test writes anything:
    making an app ends an app context, which removes the test's session."""
    application = create_app(app_config(database_url, ISSUER="https://wallet.example/api/"))
    application.test_client_class = CommittingClient
    return application.test_client()


def test_bundle_urls_come_from_the_issuer_not_the_host_header(
    deployed, patient, patient_token, hospital
):
    # Behind a proxy that passes any Host through, links must not point at the attacker.
    patient_id = patient.id  # the other app's requests end the test's session
    made = grant(deployed, patient_token, {"org_id": str(hospital.org.id)})

    response = deployed.get(
        "/fhir/R5/Consent",
        query_string={"patient": str(patient_id)},
        headers=bearer(patient_token),
        base_url="http://evil.example",
    )

    assert response.status_code == 200, response.json
    [entry] = response.json["entry"]
    assert entry["fullUrl"] == f"https://wallet.example/api/fhir/R5/Consent/{made['id']}"
    [self_link] = response.json["link"]
    assert self_link["url"] == f"https://wallet.example/api/fhir/R5/Consent?patient={patient_id}"
