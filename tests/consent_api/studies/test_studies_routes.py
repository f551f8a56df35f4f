"""Studies (issue 14): a data user registers one, the operator reviews it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from server.db import utcnow
from tests.conftest import bearer


def study_body(**overrides) -> dict:
    today = utcnow().date()
    return {
        "title": "Kidney function after 60",
        "description": "We look at how kidney function changes, from routine lab results.",
        "purpose": "HRESCH",
        "data_categories": ["lab_results"],
        "actions": ["use"],
        "fee_per_use": 50,
        "ethics_reference": "EC-2026-117",
        "starts_on": today.isoformat(),
        "ends_on": (today + timedelta(days=365)).isoformat(),
        "recruitment_target": 500,
        **overrides,
    }


def _register(client, token, **overrides):
    return client.post("/v1/studies", json=study_body(**overrides), headers=bearer(token))


def test_a_study_is_submitted_then_approved_by_the_operator(client, pharma_token, admin_token):
    made = _register(client, pharma_token)
    assert made.status_code == 201, made.json
    assert made.json["status"] == "submitted"
    assert made.headers["Location"].endswith(f"/v1/studies/{made.json['id']}")
    queue = client.get(
        "/v1/admin/studies", query_string={"status": "submitted"}, headers=bearer(admin_token)
    ).json["items"]
    assert made.json["id"] in {s["id"] for s in queue}
    approved = client.post(
        f"/v1/admin/studies/{made.json['id']}/approve", headers=bearer(admin_token)
    )
    assert approved.json["status"] == "approved"
    assert approved.json["reviewed_at"]
    again = client.post(f"/v1/admin/studies/{made.json['id']}/approve", headers=bearer(admin_token))
    assert (again.status_code, again.json["code"]) == (409, "study_already_reviewed")
    mine = client.get(f"/v1/studies/{made.json['id']}", headers=bearer(pharma_token)).json
    assert mine["status"] == "approved"


def test_a_rejection_says_why(client, pharma_token, admin_token):
    made = _register(client, pharma_token).json
    url = f"/v1/admin/studies/{made['id']}/reject"
    bare = client.post(url, json={}, headers=bearer(admin_token))
    assert bare.status_code == 422
    assert "reason" in bare.json["errors"]
    rejected = client.post(
        url, json={"reason": "No ethics approval on file."}, headers=bearer(admin_token)
    )
    assert (rejected.json["status"], rejected.json["review_reason"]) == (
        "rejected",
        "No ethics approval on file.",
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"purpose": "TREAT"}, "purpose"),  # studies are research, trials or public health
        ({"purpose": "HMARKT"}, "purpose"),
        ({"data_categories": []}, "data_categories"),
        ({"data_categories": ["all"]}, "data_categories"),  # say which
        ({"data_categories": ["nope"]}, "data_categories"),
        ({"actions": []}, "actions"),
        ({"recruitment_target": 0}, "recruitment_target"),
        ({"fee_per_use": -1}, "fee_per_use"),
        ({"title": "   "}, "title"),
        ({"ethics_reference": ""}, "ethics_reference"),
        ({"ends_on": "2020-01-01", "starts_on": "2019-01-01"}, "ends_on"),  # over already
        ({"ends_on": "2026-01-01", "starts_on": "2026-06-01"}, "ends_on"),  # before its start
    ],
)
def test_a_bad_study_names_the_field_and_writes_nothing(client, pharma_token, change, field):
    answer = _register(client, pharma_token, **change)
    assert answer.status_code == 422
    assert field in answer.json["errors"]
    assert client.get("/v1/studies", headers=bearer(pharma_token)).json["items"] == []


def test_an_organisation_sees_only_its_own_studies(client, pharma_token, token_for):
    made = _register(client, pharma_token).json
    other = token_for("research")
    assert client.get(f"/v1/studies/{made['id']}", headers=bearer(other)).status_code == 404
    assert client.get("/v1/studies", headers=bearer(other)).json["items"] == []


def test_a_patient_or_a_hospital_narrowed_to_checks_cannot_register(
    client, patient_token, token_for
):
    checker = token_for("hospital", scopes="consent.check")
    for token in (patient_token, checker):
        assert _register(client, token).status_code == 403


@pytest.mark.parametrize("reason", ["   ", "\u200b", "\t\n"])
def test_a_rejection_must_say_why_in_something_visible(client, pharma_token, admin_token, reason):
    """README: a rejection says why (the sponsor sees it); without a reason it is a 422
    naming `reason`. A reason of only spaces or invisible marks says nothing, and is
    refused as a blank title is (consent_api.wording.visible)."""
    made = client.post("/v1/studies", json=study_body(), headers=bearer(pharma_token)).json
    answer = client.post(
        f"/v1/admin/studies/{made['id']}/reject",
        json={"reason": reason},
        headers=bearer(admin_token),
    )
    assert answer.status_code == 422, answer.json
    assert "reason" in answer.json["errors"]
    mine = client.get(f"/v1/studies/{made['id']}", headers=bearer(pharma_token)).json
    assert mine["status"] == "submitted"
