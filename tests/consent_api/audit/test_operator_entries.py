"""The operator's actions are in the audit log, by the operator organisation acting: an
organisation registered, suspended, resumed; the points terms changed; a reward created and
retired. One entry per change, none for a refused action, the payload unsealed (it concerns
no patient) and only what the action changed."""

from __future__ import annotations

import uuid

import pytest

from consent_api.audit import entries
from consent_api.audit.models import AuditEntry
from server.db import db
from tests.conftest import bearer
from tests.support import problem_code


@pytest.fixture
def operator(client, admin_token) -> str:
    """The id of the operator organisation the admin token acts for."""
    return client.get("/v1/org", headers=bearer(admin_token)).json["id"]


def _by(client, admin_token, operator, kind):
    """The entries of this kind that the operator's token wrote, as GET /v1/admin/audit
    lists them (filtered by kind and actor type)."""
    answer = client.get(
        "/v1/admin/audit",
        query_string={"kind": kind, "actor_type": "operator"},
        headers=bearer(admin_token),
    )
    assert answer.status_code == 200, answer.json
    return [e for e in answer.json["items"] if e["actor"] == {"type": "operator", "id": operator}]


def _payload(entry) -> dict:
    row = db.session.get(AuditEntry, uuid.UUID(entry["id"]))
    assert row.patient_id is None
    return entries.open_unsealed(row.payload).payload


def _post(client, admin_token, url, body, status):
    answer = client.post(url, json=body, headers=bearer(admin_token))
    assert answer.status_code == status, answer.json
    return answer.json


def test_registering_an_organisation_is_one_entry_without_its_credentials(
    client, admin_token, operator
):
    body = {"name": "General Hospital", "type": "hospital", "website": "https://gh.example"}
    created = _post(client, admin_token, "/v1/admin/orgs", body, 201)

    [entry] = _by(client, admin_token, operator, "org.registered")
    assert (entry["subjects"], entry["patient_id"]) == ({"org": created["id"]}, None)
    assert entry["occurred_at"] == created["created_at"]
    assert _payload(entry) == body
    assert created["client_secret"] not in str(_payload(entry))


@pytest.mark.parametrize(
    "body",
    [
        {"name": "Greedy Hospital", "type": "hospital", "scopes": ["admin"]},
        {"name": "", "type": "hospital"},
        {"name": "Bad keys", "type": "pharma", "jwks": {"keys": [{"kty": "oct", "k": "AAAA"}]}},
    ],
)
def test_a_refused_registration_writes_no_entry(client, admin_token, operator, body):
    answer = _post(client, admin_token, "/v1/admin/orgs", body, 422)
    assert problem_code(answer) == "validation_failed"
    assert _by(client, admin_token, operator, "org.registered") == []


def test_suspending_and_resuming_are_one_entry_each_however_often_asked(
    client, admin_token, operator, org_credentials
):
    hospital = org_credentials("hospital").org
    for action in ("suspend", "suspend", "resume", "resume"):
        _post(client, admin_token, f"/v1/admin/orgs/{hospital.id}/{action}", None, 200)

    [suspended] = _by(client, admin_token, operator, "org.suspended")
    [resumed] = _by(client, admin_token, operator, "org.resumed")
    for entry in (suspended, resumed):
        assert entry["subjects"] == {"org": str(hospital.id)}
    assert (_payload(suspended), _payload(resumed)) == (
        {"status": "suspended", "reason": None, "automatic": False},
        {"status": "active"},
    )


def test_an_operator_refused_suspending_itself_writes_no_entry(client, admin_token, operator):
    answer = _post(client, admin_token, f"/v1/admin/orgs/{operator}/suspend", None, 409)
    assert problem_code(answer) == "cannot_suspend_self"
    assert _by(client, admin_token, operator, "org.suspended") == []


def test_changing_the_points_terms_is_one_entry_and_refused_terms_none(
    client, admin_token, operator
):
    url = "/v1/admin/points-terms"
    refused = client.put(
        url, json={"commission_bp": 10_001, "patient_share_bp": 0}, headers=bearer(admin_token)
    )
    assert refused.status_code == 422
    assert _by(client, admin_token, operator, "points.terms_changed") == []

    terms = {"commission_bp": 2_000, "patient_share_bp": 5_000}
    assert client.put(url, json=terms, headers=bearer(admin_token)).status_code == 200

    [entry] = _by(client, admin_token, operator, "points.terms_changed")
    assert list(entry["subjects"]) == ["terms"]
    assert _payload(entry) == terms


def test_creating_and_retiring_a_reward_are_one_entry_each(client, admin_token, operator):
    _post(client, admin_token, "/v1/admin/rewards", {"name": "Free", "cost": 0}, 422)
    assert _by(client, admin_token, operator, "points.reward_created") == []

    body = {"name": "Cinema ticket", "cost": 300, "description": "One film."}
    reward = _post(client, admin_token, "/v1/admin/rewards", body, 201)
    for status in (204, 204):  # retiring a retired reward changes nothing
        answer = client.delete(f"/v1/admin/rewards/{reward['id']}", headers=bearer(admin_token))
        assert answer.status_code == status
    unknown = client.delete(f"/v1/admin/rewards/{uuid.uuid4()}", headers=bearer(admin_token))
    assert unknown.status_code == 404

    [created] = _by(client, admin_token, operator, "points.reward_created")
    [retired] = _by(client, admin_token, operator, "points.reward_retired")
    for entry in (created, retired):
        assert entry["subjects"] == {"reward": reward["id"]}
    assert _payload(created) == {
        **body,
        "fulfilment": "voucher_code",
        "instructions": "",
    }
    assert _payload(retired) == {"active": False}
