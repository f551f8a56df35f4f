"""The operator reads the audit log by kind, patient, actor and time, never a payload."""

from __future__ import annotations

from datetime import timedelta

import pytest

from server.db import utcnow
from tests.conftest import bearer
from tests.support import problem_code, run_job_now


def _list(client, admin_token, **query):
    answer = client.get("/v1/admin/audit", query_string=query, headers=bearer(admin_token))
    assert answer.status_code == 200, answer.json
    return answer.json["items"]


def test_the_operator_filters_the_log_and_reads_no_payload(client, grant, admin_token):
    first, consent, token = grant()
    second, _, _ = grant()
    url = f"/v1/me/consents/{consent['id']}/revoke"
    assert (
        client.post(url, json={"reason": "private words"}, headers=bearer(token)).status_code == 200
    )
    run_job_now("sequence-audit")

    everything = _list(client, admin_token)
    # The oldest: the registration of the operator whose token reads the log.
    assert [e["kind"] for e in everything].count("org.registered") == 1
    assert everything[-1]["kind"] == "org.registered"
    assert len(everything) == 4
    assert all("payload" not in entry for entry in everything)
    assert "private words" not in str(everything)
    assert [e["kind"] for e in _list(client, admin_token, patient_id=str(first.id))] == [
        "consent.revoked",
        "consent.granted",
    ]
    revoked = _list(client, admin_token, kind="consent.revoked")
    assert [(e["patient_id"], e["actor"]) for e in revoked] == [
        (str(first.id), {"type": "patient", "id": str(first.id)})
    ]
    assert {e["leaf_index"] for e in everything} == {0, 1, 2, 3}
    assert _list(client, admin_token, actor_type="system") == []
    later = (utcnow() + timedelta(minutes=1)).isoformat()
    assert _list(client, admin_token, since=later) == []
    assert len(_list(client, admin_token, until=later)) == 4
    assert [e["patient_id"] for e in _list(client, admin_token, patient_id=str(second.id))] == [
        str(second.id)
    ]
    page = client.get("/v1/admin/audit", query_string={"limit": 2}, headers=bearer(admin_token))
    rest = client.get(
        "/v1/admin/audit",
        query_string={"limit": 2, "cursor": page.json["next_cursor"]},
        headers=bearer(admin_token),
    ).json
    assert [e["id"] for e in page.json["items"] + rest["items"]] == [e["id"] for e in everything]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"actor_type": "robot"}, "actor_type"),
        ({"patient_id": "not-a-uuid"}, "patient_id"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-11-30T10:00:00Z", "until": "2026-11-30T09:00:00Z"}, "until"),
        ({"kind": "x" * 61}, "kind"),
    ],
)
def test_bad_filters_name_the_field(client, admin_token, query, field):
    answer = client.get("/v1/admin/audit", query_string=query, headers=bearer(admin_token))
    assert (answer.status_code, problem_code(answer.json)) == (422, "validation_failed")
    assert field in answer.json["errors"]
