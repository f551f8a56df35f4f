"""The audit log through HTTP: the patient reads their entries and proves each against the
signed checkpoint, rebuilding the leaf from the entry as the contract says; anyone reads the
latest checkpoint and the consistency proof from an older one; another patient's entry, an
entry not yet in the tree, and sizes the log does not have are refused."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import rfc8785

from consent_api.audit import merkle
from tests.conftest import bearer
from tests.jose_check import verified
from tests.support import problem_code, run_job_now


def _b(value: str) -> bytes:
    return base64.b64decode(value)


def _leaf(entry: dict) -> bytes:
    """The leaf hash of an entry as the API shows it, rebuilt as openapi.yaml documents."""
    data = {
        "v": 1,
        "kind": entry["kind"],
        "actor": entry["actor"],
        "subjects": entry["subjects"],
        # as the contract writes it: UTC, six digits of fraction, Z
        "occurred_at": datetime.fromisoformat(entry["occurred_at"])
        .astimezone(UTC)
        .strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "payload": _b(entry["commitment"]).hex(),
    }
    return merkle.leaf_hash(rfc8785.dumps(data))


def _consent_life(client, grant):
    patient, consent, token = grant()
    url = f"/v1/me/consents/{consent['id']}"
    assert client.post(f"{url}/pause", headers=bearer(token)).status_code == 200
    assert client.post(f"{url}/revoke", json={}, headers=bearer(token)).status_code == 200
    return patient, consent, token


def test_a_patient_reads_their_entries_and_proves_each(client, grant):
    _, consent, token = _consent_life(client, grant)
    _consent_life(client, grant)  # another patient's, in the same tree
    before = client.get("/v1/me/audit", headers=bearer(token)).json["items"]
    assert [e["kind"] for e in before] == ["consent.revoked", "consent.paused", "consent.granted"]
    assert {e["leaf_index"] for e in before} == {None}  # not sequenced yet
    refused = client.get(f"/v1/me/audit/{before[0]['id']}/proof", headers=bearer(token))
    assert (refused.status_code, problem_code(refused.json)) == (404, "not_found")

    run_job_now("sequence-audit")

    listed = client.get("/v1/me/audit", headers=bearer(token)).json["items"]
    keys = client.get("/.well-known/jwks.json").json
    for entry in listed:
        assert entry["payload"]["consent"]["id"] == consent["id"]
        proof = client.get(f"/v1/me/audit/{entry['id']}/proof", headers=bearer(token)).json
        assert proof["leaf_index"] == entry["leaf_index"]
        assert _b(proof["leaf_hash"]) == _leaf(entry)
        root = _b(proof["checkpoint"]["root"])
        assert merkle.verify_inclusion(
            _leaf(entry),
            proof["leaf_index"],
            proof["tree_size"],
            [_b(p) for p in proof["path"]],
            root,
        )
        _, claims = verified(proof["checkpoint"]["signed"], keys)
        assert (claims["tree_size"], _b(claims["root"])) == (proof["tree_size"], root)


def test_another_patients_entry_is_not_found(client, grant):
    _, _, first = _consent_life(client, grant)
    _, _, second = _consent_life(client, grant)
    run_job_now("sequence-audit")
    theirs = client.get("/v1/me/audit", headers=bearer(first)).json["items"][0]["id"]
    answer = client.get(f"/v1/me/audit/{theirs}/proof", headers=bearer(second))
    assert (answer.status_code, problem_code(answer.json)) == (404, "not_found")
    mine = {e["id"] for e in client.get("/v1/me/audit", headers=bearer(second)).json["items"]}
    assert theirs not in mine


def test_the_checkpoint_proves_an_older_one_its_prefix(client, grant):
    empty = client.get("/v1/audit/checkpoint")
    assert (empty.status_code, problem_code(empty.json)) == (404, "not_found")
    _consent_life(client, grant)
    run_job_now("sequence-audit")
    kept = client.get("/v1/audit/checkpoint").json["checkpoint"]
    _consent_life(client, grant)
    run_job_now("sequence-audit")

    latest = client.get("/v1/audit/checkpoint", query_string={"from_size": kept["tree_size"]})

    assert latest.status_code == 200, latest.json
    body = latest.json
    assert (kept["tree_size"], body["checkpoint"]["tree_size"]) == (3, 6)
    assert body["from_size"] == 3
    assert merkle.verify_consistency(
        3,
        6,
        _b(kept["root"]),
        _b(body["checkpoint"]["root"]),
        [_b(step) for step in body["consistency"]],
    )
    plain = client.get("/v1/audit/checkpoint").json
    assert (plain["from_size"], plain["consistency"]) == (None, None)


def test_sizes_the_log_does_not_have_are_refused(client, grant):
    _consent_life(client, grant)
    run_job_now("sequence-audit")
    for size, expected in (("4", (422, "validation_failed")), ("2", (404, "not_found"))):
        answer = client.get("/v1/audit/checkpoint", query_string={"from_size": size})
        assert (answer.status_code, problem_code(answer.json)) == expected, size
    for bad in ("0", "-1", "three", "1.5"):
        answer = client.get("/v1/audit/checkpoint", query_string={"from_size": bad})
        assert answer.status_code == 422, bad
        assert "from_size" in answer.json["errors"]
