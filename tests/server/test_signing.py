"""The signing keys: published without their private halves, the first of the file signing,
older ones still verifying after a rotation; checked with an independent implementation."""

from __future__ import annotations

import json

from server import signing
from server.app import create_app
from tests.conftest import app_config
from tests.jose_check import verified, with_claims
from tests.support import race


def test_the_published_keys_have_no_private_part(client):
    answer = client.get("/.well-known/jwks.json")
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "public, max-age=300"
    [key] = answer.json["keys"]
    assert key.keys() == {"kty", "crv", "x", "y", "kid", "use", "alg"}
    assert (key["kty"], key["crv"], key["alg"], key["use"]) == ("EC", "P-256", "ES256", "sig")


def test_after_a_rotation_the_new_key_signs_and_the_old_one_still_verifies(database_url, tmp_path):
    old_file = tmp_path / "old.json"
    signing.write_new(old_file)
    old_app = create_app(app_config(database_url, SIGNING_KEY_FILE=str(old_file)))
    with old_app.app_context():
        signed_before = signing.signer().sign({"n": 1}, typ="test+jwt")
    # Rotation: a new key goes first; the old one stays in the file, published.
    old_keys = json.loads(old_file.read_text())["keys"]
    rotated = tmp_path / "rotated.json"
    rotated.write_text(json.dumps({"keys": [signing.new_key(), *old_keys]}))
    app = create_app(app_config(database_url, SIGNING_KEY_FILE=str(rotated)))
    published = app.test_client().get("/.well-known/jwks.json").json
    assert [k["kid"] for k in published["keys"]][1:] == [old_keys[0]["kid"]]
    with app.app_context():
        signed_after = signing.signer().sign({"n": 2}, typ="test+jwt")
    header, claims = verified(signed_after, published)
    assert (header["kid"], header["typ"], claims) == (
        published["keys"][0]["kid"],
        "test+jwt",
        {"n": 2},
    )
    assert verified(signed_before, published)[1] == {"n": 1}
    # A changed claim, or a key that was never published: no.
    assert verified(with_claims(signed_after, {"n": 3}), published) is None
    foreign = signing.Signer([signing.ECKey.import_key(signing.new_key())])
    assert verified(foreign.sign({"n": 2}, typ="test+jwt"), published) is None


def test_processes_starting_together_make_one_key_file_and_read_it_whole(tmp_path):
    path = tmp_path / "var" / "signing-keys.json"
    made = race([lambda: signing.write_new(path)] * 8)
    assert made.count(True) == 1
    assert len(signing.load(path).keys) == 1
    assert [p.name for p in path.parent.iterdir()] == ["signing-keys.json"]  # nothing aside
    assert path.stat().st_mode & 0o777 == 0o600
