"""What organisations can read: the consents granted to them, and nothing of others'."""

from datetime import timedelta

import pytest

from server.db import utcnow
from tests.conftest import bearer, ref, shown


@pytest.fixture
def hospital(org_credentials):
    return org_credentials("hospital", name="North Hospital")


@pytest.fixture
def hospital_token(token_for, hospital):
    return token_for(registration=hospital)


def _grant(client, patient_token, **body):
    base = {"data_categories": ["lab_results"], "purposes": ["TREAT"], "actions": ["use"]}
    response = client.post("/v1/me/consents", json={**base, **body}, headers=bearer(patient_token))
    assert response.status_code == 201, response.json
    return response.json


def test_org_lists_consents_granted_to_it_directly_or_by_type(
    client, patient_token, patient, hospital, hospital_token, org_credentials
):
    direct = _grant(client, patient_token, grantee={"org_id": str(hospital.org.id)})
    by_type = _grant(client, patient_token, grantee={"org_type": "hospital"})
    other = org_credentials("hospital")
    _grant(client, patient_token, grantee={"org_id": str(other.org.id)})
    _grant(client, patient_token, grantee={"org_type": "pharma"})

    items = client.get("/v1/consents", headers=bearer(hospital_token)).json["items"]

    assert {c["id"] for c in items} == {shown(hospital_token, c["id"]) for c in (direct, by_type)}
    assert all(c["patient_ref"] == ref(hospital_token, patient) for c in items)
    assert "summary" not in items[0]


def test_org_never_sees_exclusions_about_other_orgs(
    client, patient_token, hospital, hospital_token, org_credentials
):
    rival = org_credentials("hospital")
    _grant(
        client,
        patient_token,
        grantee={"org_type": "hospital"},
        exclusions=[{"org_ids": [str(rival.org.id)]}, {"data_categories": ["imaging"]}],
    )
    (item,) = client.get("/v1/consents", headers=bearer(hospital_token)).json["items"]
    assert item["exclusions"] == [{"data_categories": ["imaging"], "purposes": [], "org_ids": []}]


def test_updated_since_lets_a_mirror_learn_of_revocations(
    client, patient_token, hospital, hospital_token
):
    consent = _grant(client, patient_token, grantee={"org_id": str(hospital.org.id)})
    mark = utcnow()
    unchanged = client.get(
        "/v1/consents",
        query_string={"updated_since": mark.isoformat()},
        headers=bearer(hospital_token),
    ).json["items"]
    assert unchanged == []
    client.post(f"/v1/me/consents/{consent['id']}/revoke", headers=bearer(patient_token))
    changed = client.get(
        "/v1/consents",
        query_string={"updated_since": (mark - timedelta(milliseconds=1)).isoformat()},
        headers=bearer(hospital_token),
    ).json["items"]
    assert [(c["id"], c["status"], c["version"]) for c in changed] == [
        (shown(hospital_token, consent["id"]), "revoked", 2)
    ]


def test_org_filters_by_status_category_and_purpose(
    client, patient_token, hospital, hospital_token
):
    grantee = {"org_id": str(hospital.org.id)}
    lab = _grant(client, patient_token, grantee=grantee)
    broad = _grant(
        client, patient_token, grantee=grantee, data_categories=["all"], purposes=["HOPERAT"]
    )
    revoked = _grant(client, patient_token, grantee=grantee)
    client.post(f"/v1/me/consents/{revoked['id']}/revoke", headers=bearer(patient_token))

    def ids(**query):
        items = client.get("/v1/consents", query_string=query, headers=bearer(hospital_token))
        return {c["id"] for c in items.json["items"]}

    def as_shown(*consents):
        return {shown(hospital_token, c["id"]) for c in consents}

    assert ids(status="active") == as_shown(lab, broad)
    assert ids(data_category="imaging") == as_shown(broad)
    assert ids(purpose="TREAT", status="revoked") == as_shown(revoked)


def test_listing_needs_consent_read(client, token_for):
    token = token_for("hospital", scopes="consent.check")
    assert client.get("/v1/consents", headers=bearer(token)).status_code == 403


def test_org_pages_through_many_consents(client, patient_token, hospital, hospital_token):
    made = [
        _grant(client, patient_token, grantee={"org_id": str(hospital.org.id)})["id"]
        for _ in range(5)
    ]
    seen, cursor = [], None
    for _ in range(10):
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/consents", query_string=query, headers=bearer(hospital_token)).json
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [shown(hospital_token, consent_id) for consent_id in made]
