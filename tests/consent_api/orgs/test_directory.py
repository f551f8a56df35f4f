"""The organisation directory (issue 13): what a patient app shows when the patient picks a
grantee, set at registration and by each organisation itself, and nothing more."""

from __future__ import annotations

import pytest

from tests.conftest import bearer

PROFILE = {
    "description": "A teaching hospital in Demo Town.",
    "website": "https://st-demo.example",
    "logo_url": "https://st-demo.example/logo.png",
}
DIRECTORY_FIELDS = {"id", "name", "type", "description", "website", "logo_url"}


def _directory(client, token, **query):
    answer = client.get("/v1/orgs", query_string=query, headers=bearer(token))
    assert answer.status_code == 200, answer.json
    return answer.json


def _register(client, admin_token, **body):
    answer = client.post("/v1/admin/orgs", json=body, headers=bearer(admin_token))
    assert answer.status_code == 201, answer.json
    return answer.json


def test_a_patient_sees_active_data_organisations_with_their_profile_only(
    client, admin_token, patient_token, org_credentials
):
    made = _register(client, admin_token, name="St. Profile", type="hospital", **PROFILE)
    suspended = _register(client, admin_token, name="Gone Pharma", type="pharma")
    client.post(f"/v1/admin/orgs/{suspended['id']}/suspend", headers=bearer(admin_token))
    items = _directory(client, patient_token, limit=200)["items"]
    by_id = {item["id"]: item for item in items}
    assert (
        by_id[made["id"]] == {"id": made["id"], "name": "St. Profile", "type": "hospital"} | PROFILE
    )
    assert suspended["id"] not in by_id
    assert all(set(item) == DIRECTORY_FIELDS for item in items)
    assert "operator" not in {item["type"] for item in items}


def test_the_directory_filters_by_type_and_name(client, admin_token, patient_token):
    _register(client, admin_token, name="Northwind Clinic", type="hospital")
    _register(client, admin_token, name="Northwind Research", type="research")
    _register(client, admin_token, name="Southwind Clinic", type="hospital")
    named = _directory(client, patient_token, q="northWIND")["items"]
    assert sorted(item["name"] for item in named) == ["Northwind Clinic", "Northwind Research"]
    hospitals = _directory(client, patient_token, q="wind", type="hospital")["items"]
    assert sorted(item["name"] for item in hospitals) == ["Northwind Clinic", "Southwind Clinic"]
    assert _directory(client, patient_token, q="%")["items"] == []  # a literal, not a pattern


def test_the_directory_pages_with_a_cursor(client, admin_token, patient_token):
    for n in range(5):
        _register(client, admin_token, name=f"Paged Org {n}", type="insurer")
    seen, cursor = [], None
    while True:
        query = {"q": "Paged Org", "limit": 2} | ({"cursor": cursor} if cursor else {})
        page = _directory(client, patient_token, **query)
        seen += [item["name"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == [f"Paged Org {n}" for n in range(5)]


def test_an_organisation_edits_its_own_profile(client, token_for, org_credentials, patient_token):
    registration = org_credentials("pharma")
    token = token_for(registration=registration)
    answer = client.patch("/v1/org", json=PROFILE, headers=bearer(token))
    assert answer.status_code == 200
    assert {key: answer.json[key] for key in PROFILE} == PROFILE
    cleared = client.patch("/v1/org", json={"logo_url": None}, headers=bearer(token))
    assert cleared.json["logo_url"] is None
    assert cleared.json["website"] == PROFILE["website"]
    (listed,) = [
        item
        for item in _directory(client, patient_token, limit=200)["items"]
        if item["id"] == str(registration.org.id)
    ]
    assert listed["website"] == PROFILE["website"]
    assert listed["logo_url"] is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("website", "http://st-demo.example"),  # https only: it is shown to patients
        ("website", "javascript:alert(1)"),
        ("logo_url", "https://"),
        ("description", "x" * 1001),
        ("name", "New name"),  # the name is the operator's: registered, not self-chosen
        ("website", 7),
        # review findings: what would mislead a patient or is no URL at all
        ("website", "https://st-demo.example@evil.example/"),
        ("website", "https://user:pass@evil.example/"),
        ("website", 'https://x.example#"><script>'),
        ("website", "https://x.example:99999/"),
        ("logo_url", "https://localhost/logo.png"),
        ("logo_url", "https://127.0.0.1/logo.png"),
        # second review: a broken escape, and names no public DNS answers
        ("website", "https://cdn.example/%zz"),
        ("website", "https://printer.local"),
        ("website", "https://metadata.google.internal"),
    ],
)
def test_a_bad_profile_is_refused_naming_the_field_and_changes_nothing(
    client, token_for, org_credentials, field, value
):
    token = token_for(registration=org_credentials("hospital"))
    before = client.get("/v1/org", headers=bearer(token)).json
    answer = client.patch("/v1/org", json={field: value}, headers=bearer(token))
    assert answer.status_code == 422
    assert field in answer.json["errors"]
    assert client.get("/v1/org", headers=bearer(token)).json == before


def test_only_a_token_with_org_profile_edits_the_profile(client, token_for, org_credentials):
    registration = org_credentials("hospital")
    narrow = token_for(registration=registration, scopes="consent.check")
    answer = client.patch("/v1/org", json=PROFILE, headers=bearer(narrow))
    assert answer.status_code == 403
    assert answer.json["code"] == "insufficient_scope"


def test_registration_refuses_a_bad_profile(client, admin_token):
    answer = client.post(
        "/v1/admin/orgs",
        json={"name": "X", "type": "hospital", "logo_url": "ftp://x.example/l.png"},
        headers=bearer(admin_token),
    )
    assert answer.status_code == 422
    assert "logo_url" in answer.json["errors"]
