"""The patient's consents through the HTTP API."""

import uuid
from datetime import timedelta

import pytest

from server.db import utcnow
from tests.conftest import bearer
from tests.support import all_pages


@pytest.fixture
def hospital(org_credentials):
    return org_credentials("hospital", name="St. Mary's")


@pytest.fixture
def grant(client, patient_token, hospital):
    """Grant a consent through the API; keyword arguments override the body."""

    def make(**overrides):
        body = {
            "grantee": {"org_id": str(hospital.org.id)},
            "data_categories": ["lab_results", "medications"],
            "purposes": ["TREAT"],
            "actions": ["access", "use"],
        }
        body.update(overrides)
        response = client.post("/v1/me/consents", json=body, headers=bearer(patient_token))
        assert response.status_code == 201, response.json
        return response.json

    return make


def test_grant_returns_the_consent_with_a_plain_language_summary(grant, hospital):
    consent = grant(valid_until=(utcnow() + timedelta(days=30)).isoformat(), max_uses=3)
    assert consent["status"] == "active"
    assert consent["version"] == 1
    assert consent["grantee"] == {
        "org_id": str(hospital.org.id),
        "org_type": "hospital",
        "org_name": "St. Mary's",
        "suspension": None,
    }
    summary = consent["summary"]
    assert summary.startswith("St. Mary's may see and use your lab results and your medications")
    assert "for your treatment" in summary
    assert "At most 3 uses" in summary


def test_summary_names_what_is_excluded(grant):
    consent = grant(
        grantee={"org_type": "hospital"},
        data_categories=["all", "mental_health"],
        exclusions=[{"data_categories": ["imaging"]}],
    )
    assert consent["summary"].startswith("Every hospital may")
    assert "your mental-health records" in consent["summary"]
    assert "Never: your scans and X-rays" in consent["summary"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"data_categories": ["blood"]}, "data_categories"),
        ({"data_categories": []}, "data_categories"),
        ({"purposes": ["SELL"]}, "purposes"),
        ({"actions": []}, "actions"),
        ({"valid_until": "2001-01-01T00:00:00Z"}, "valid_until"),
        ({"data_period": {"start": "2024-01-01", "end": "2023-01-01"}}, "data_period"),
        ({"grantee": {"org_id": "00000000-0000-0000-0000-000000000000"}}, "grantee"),
        ({"grantee": {"org_type": "bank"}}, "grantee"),
        ({"grantee": {}}, "grantee"),
        ({"max_uses": 0}, "max_uses"),
        ({"exclusions": [{}]}, "exclusions"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_consents_are_422_naming_the_field(client, patient_token, hospital, overrides, field):
    body = {
        "grantee": {"org_id": str(hospital.org.id)},
        "data_categories": ["lab_results"],
        "purposes": ["TREAT"],
        "actions": ["access"],
        **overrides,
    }
    response = client.post("/v1/me/consents", json=body, headers=bearer(patient_token))
    assert response.status_code == 422, response.json
    assert field in response.json["errors"]
    assert client.get("/v1/me/consents", headers=bearer(patient_token)).json["items"] == []


def test_amend_creates_a_new_version_and_keeps_the_old_one(client, patient_token, grant):
    consent = grant()
    response = client.patch(
        f"/v1/me/consents/{consent['id']}",
        json={"data_categories": ["lab_results"]},
        headers=bearer(patient_token),
    )
    assert response.status_code == 200
    assert response.json["version"] == 2
    assert response.json["data_categories"] == ["lab_results"]

    shown = client.get(f"/v1/me/consents/{consent['id']}", headers=bearer(patient_token)).json
    assert [v["version"] for v in shown["versions"]] == [1, 2]
    assert [v["change"] for v in shown["versions"]] == ["created", "amended"]
    assert shown["versions"][0]["consent"]["data_categories"] == ["lab_results", "medications"]
    assert shown["versions"][1]["consent"]["data_categories"] == ["lab_results"]


def test_amend_cannot_change_the_grantee(client, patient_token, grant):
    consent = grant()
    response = client.patch(
        f"/v1/me/consents/{consent['id']}",
        json={"grantee": {"org_type": "pharma"}},
        headers=bearer(patient_token),
    )
    assert response.status_code == 422
    assert "grantee" in response.json["errors"]


def test_pause_resume_and_revoke_each_make_a_version(client, patient_token, grant):
    consent = grant()
    url = f"/v1/me/consents/{consent['id']}"
    assert client.post(f"{url}/pause", headers=bearer(patient_token)).json["status"] == "paused"
    assert client.post(f"{url}/resume", headers=bearer(patient_token)).json["status"] == "active"
    revoked = client.post(
        f"{url}/revoke", json={"reason": "changed my mind"}, headers=bearer(patient_token)
    ).json
    assert revoked["status"] == "revoked"
    assert revoked["revoke_reason"] == "changed my mind"
    assert revoked["version"] == 4


def test_revoked_consent_is_closed_to_changes(client, patient_token, grant):
    consent = grant()
    url = f"/v1/me/consents/{consent['id']}"
    client.post(f"{url}/revoke", headers=bearer(patient_token))
    for response in (
        client.post(f"{url}/resume", headers=bearer(patient_token)),
        client.patch(url, json={"purposes": ["TREAT"]}, headers=bearer(patient_token)),
    ):
        assert response.status_code == 409
        assert response.json["code"] == "consent_closed"


def test_a_patient_cannot_see_or_touch_another_patients_consent(client, patient_token_for, grant):
    from tests.factories import PatientFactory

    consent = grant()
    other = patient_token_for(PatientFactory())
    url = f"/v1/me/consents/{consent['id']}"
    assert client.get(url, headers=bearer(other)).status_code == 404
    assert client.post(f"{url}/revoke", headers=bearer(other)).status_code == 404
    assert client.get("/v1/me/consents", headers=bearer(other)).json["items"] == []


def test_list_filters_and_paginates_with_a_cursor(client, patient_token, grant):
    made = [grant(purposes=["TREAT"]) for _ in range(3)] + [grant(purposes=["HRESCH"])]
    pages = all_pages(
        client, "/v1/me/consents", query={"purpose": "TREAT"}, headers=bearer(patient_token)
    )
    seen = [c["id"] for c in pages]
    assert seen == [c["id"] for c in made[:3]]


def test_category_filter_finds_broad_grants_but_never_for_sensitive_data(
    client, patient_token, grant
):
    broad = grant(data_categories=["all"])
    headers = bearer(patient_token)
    imaging = client.get("/v1/me/consents?data_category=imaging", headers=headers).json["items"]
    genomics = client.get("/v1/me/consents?data_category=genomics", headers=headers).json["items"]
    assert [c["id"] for c in imaging] == [broad["id"]]
    assert genomics == []


def test_status_filter_sees_expiry_before_the_sweep_runs(client, patient_token, grant):
    from consent_api.consents.models import Consent
    from server.db import db

    consent = grant()
    row = db.session.get(Consent, uuid.UUID(consent["id"]))
    row.valid_until = utcnow() - timedelta(seconds=1)
    db.session.flush()
    headers = bearer(patient_token)
    expired = client.get("/v1/me/consents?status=expired", headers=headers).json["items"]
    active = client.get("/v1/me/consents?status=active", headers=headers).json["items"]
    assert [c["status"] for c in expired] == ["expired"]
    assert active == []


def test_bad_cursor_is_a_422_naming_it(client, patient_token):
    response = client.get("/v1/me/consents?cursor=zzz", headers=bearer(patient_token))
    assert response.status_code == 422
    assert "cursor" in response.json["errors"]


def test_a_consent_shows_a_version_made_in_the_same_transaction(session, patient):
    from consent_api.consents import service
    from consent_api.consents.schemas import ConsentIn

    body = ConsentIn().load(
        {
            "grantee": {"org_type": "hospital"},
            "data_categories": ["lab_results"],
            "purposes": ["TREAT"],
            "actions": ["use"],
        }
    )
    consent = service.create(patient, body, now=utcnow())
    assert [v.version for v in consent.versions] == [1]
    service.pause(patient, consent.id, now=utcnow())
    assert [(v.version, v.change) for v in consent.versions] == [(1, "created"), (2, "paused")]
