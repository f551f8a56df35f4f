"""A patient's export carries their audit entries with proofs; `consent-wallet audit
check-export`, with no database, checks it against the signed checkpoint and the published
keys, and names the first entry that was changed afterwards."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os

import pytest
import rfc8785
from click.testing import CliRunner

from server import signing
from server.cli import main
from tests.conftest import bearer
from tests.support import run_job_now


@pytest.fixture
def exported(client, grant):
    """A patient's export after two consents' lives, sequenced; and the published keys."""
    patient, consent, token = grant()
    url = f"/v1/me/consents/{consent['id']}"
    assert client.post(f"{url}/pause", headers=bearer(token)).status_code == 200
    grant(patient=patient)
    run_job_now("sequence-audit")
    document = client.get("/v1/me/export", headers=bearer(token)).json
    return document, client.get("/.well-known/jwks.json").json


def _check(tmp_path, document, jwks):
    export_file, keys_file = tmp_path / "export.json", tmp_path / "jwks.json"
    export_file.write_text(json.dumps(document))
    keys_file.write_text(json.dumps(jwks))
    result = CliRunner().invoke(
        main, ["audit", "check-export", str(export_file), "--keys", str(keys_file)]
    )
    return result.exit_code, json.loads(result.stdout)


def test_an_export_checks_out_offline(tmp_path, exported):
    document, jwks = exported
    audit = document["audit"]
    assert [e["kind"] for e in audit["entries"]] == [
        "consent.granted",
        "consent.paused",
        "consent.granted",
    ]
    assert audit["checkpoint"]["tree_size"] == 3
    code, found = _check(tmp_path, document, jwks)
    assert (code, found) == (0, {"ok": True, "entries": 3, "proved": 3, "tree_size": 3})


def _forged_unproven(audit):
    """Rewrite an entry as it never was, with a commitment that matches, and claim it was
    not sequenced yet: nothing proves it, so nothing may pass it."""
    entry = audit["entries"][1]
    entry["kind"] = "consent.revoked"
    entry["payload"]["consent"]["status"] = "revoked"
    salt = os.urandom(16)
    entry["salt"] = base64.b64encode(salt).decode()
    entry["commitment"] = base64.b64encode(
        hashlib.sha256(salt + rfc8785.dumps(entry["payload"])).digest()
    ).decode()
    entry.update(leaf_index=None, path=None, leaf_hash=None)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            lambda audit: audit["entries"][1]["payload"]["consent"].update(status="active"),
            "the payload does not match its commitment",
        ),
        (
            lambda audit: audit["entries"][1].update(kind="consent.granted"),
            "the entry is not in the checkpoint's tree",
        ),
        (
            lambda audit: audit["entries"][1]["path"].reverse(),
            "the entry is not in the checkpoint's tree",
        ),
        (_forged_unproven, "the entry is not proved in the checkpoint"),
        (lambda audit: audit["entries"][1].update(leaf_index="1"), "the entry is malformed"),
        (lambda audit: audit["entries"][1].update(path="abc"), "the entry is malformed"),
        (
            lambda audit: audit["entries"][1].update(leaf_index=0, path=[]),
            "another entry of the export has the same id or leaf",
        ),
    ],
    ids=["payload", "kind", "proof", "unproven", "index", "path", "twice"],
)
def test_an_entry_changed_in_the_export_is_named(tmp_path, exported, change, problem):
    document, jwks = copy.deepcopy(exported[0]), exported[1]
    change(document["audit"])
    code, found = _check(tmp_path, document, jwks)
    assert (code, found["problem"].split(" (")[0]) == (1, problem)
    assert found["entry_id"] == document["audit"]["entries"][1]["id"]


def test_a_checkpoint_changed_or_signed_by_another_key_is_refused(tmp_path, exported):
    document, jwks = copy.deepcopy(exported[0]), exported[1]
    document["audit"]["checkpoint"]["root"] = document["audit"]["entries"][0]["leaf_hash"]
    code, found = _check(tmp_path, document, jwks)
    assert (code, found["problem"]) == (1, "the checkpoint says other than what was signed")
    foreign = signing.Signer([signing.ECKey.import_key(signing.new_key())]).jwks()
    code, found = _check(tmp_path, exported[0], foreign)
    assert (code, found["problem"]) == (1, "the checkpoint's signature does not verify")


@pytest.mark.parametrize(
    "document",
    [{}, [], {"audit": []}, {"audit": {"entries": {}}}, {"audit": {"entries": ["x"]}}],
    ids=["no-audit", "list", "audit-list", "entries-object", "entry-string"],
)
def test_an_export_of_another_shape_is_refused_not_crashed(tmp_path, exported, document):
    if isinstance(document, dict) and "entries" in document.get("audit", {}):
        document["audit"]["checkpoint"] = exported[0]["audit"]["checkpoint"]
    code, found = _check(tmp_path, document, exported[1])
    assert code == 1
    assert found["ok"] is False
