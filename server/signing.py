"""The service's signing keys, and what they sign (tree heads of the audit log, consent
receipts): ES256 JSON Web Keys (P-256), kept in SIGNING_KEY_FILE as a JWK Set of
private keys. The first key signs; every key in the file is published at
/.well-known/jwks.json, so that what an older key signed still verifies after a rotation
(a new key is put first; an old one is retired by removing it from the file).

Production refuses to start without the file (server/config.py). Development and the tests
use var/signing-keys.json, made on first use.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import rfc8785
from flask import Blueprint, Flask, current_app, jsonify
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from server.config import ROOT, ConfigError
from server.guard import public

ALG, CURVE = "ES256", "P-256"
DEVELOPMENT_FILE = ROOT / "var" / "signing-keys.json"

bp = Blueprint("signing", __name__)


class Signer:
    """Signs with the first key; publishes all of them."""

    def __init__(self, keys: list[ECKey]) -> None:
        self.keys = keys
        self.active = keys[0]

    def sign(self, claims: dict[str, Any], *, typ: str) -> str:
        """A compact JWS of the claims (RFC 8785 canonical JSON), with the signing key's id."""
        header = {"alg": ALG, "kid": self.active.kid, "typ": typ}
        return jws.serialize_compact(header, rfc8785.dumps(claims), self.active)

    def jwks(self) -> dict[str, Any]:
        """The public keys, as a JWK Set."""
        return {"keys": [published(key) for key in self.keys]}


def published(key: ECKey) -> dict[str, Any]:
    """A key's public half, as published."""
    return {**key.as_dict(private=False), "kid": key.kid, "use": "sig", "alg": ALG}


def new_key() -> dict[str, Any]:
    """A new private key, named by its RFC 7638 thumbprint."""
    key = ECKey.generate_key(CURVE, {"use": "sig", "alg": ALG}, auto_kid=True)
    return {**key.as_dict(private=True), "kid": key.kid}


def write_new(path: Path) -> bool:
    """Make a key file with one new key, unless the file exists (the first writer wins),
    readable by its owner only. The file appears whole or not at all (written aside, then
    linked into place), so a process starting meanwhile never reads half of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        return False
    descriptor, aside = tempfile.mkstemp(dir=path.parent, prefix=".signing-keys-")  # 0600
    try:
        with os.fdopen(descriptor, "w") as out:
            json.dump({"keys": [new_key()]}, out)
        os.link(aside, path)
    except FileExistsError:
        return False
    finally:
        os.unlink(aside)
    return True


def load(path: Path) -> Signer:
    """The keys in a file; a file that cannot be read, or holds no private key, is refused."""
    try:
        found = json.loads(Path(path).read_text())
        keys = [ECKey.import_key(entry) for entry in found["keys"]]
    except (OSError, ValueError, KeyError, TypeError, JoseError) as exc:
        raise ConfigError(f"SIGNING_KEY_FILE {path} holds no readable JWK Set: {exc}") from exc
    if not keys or any(not key.is_private or key.as_dict()["crv"] != CURVE for key in keys):
        raise ConfigError(f"SIGNING_KEY_FILE {path} must hold P-256 private keys (ES256)")
    for key, entry in zip(keys, found["keys"], strict=True):
        if not entry.get("kid"):
            key.ensure_kid()
    return Signer(keys)


def init_app(app: Flask) -> None:
    """Load the signing keys (making development's on first use) and publish them."""
    path = app.config.get("SIGNING_KEY_FILE")
    if not path:  # production refuses this (config.check_production)
        path = DEVELOPMENT_FILE
        write_new(path)
    app.extensions["signer"] = load(Path(path))
    app.register_blueprint(bp)


def signer() -> Signer:
    """The current app's signer."""
    return current_app.extensions["signer"]


@bp.get("/.well-known/jwks.json")
@public
def jwks():
    """The public keys that verify what the service signs (tree heads, receipts)."""
    response = jsonify(signer().jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
