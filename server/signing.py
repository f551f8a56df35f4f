"""The service's signing keys, and what they sign (tree heads of the audit log, consent
receipts): ES256 JSON Web Keys (P-256), kept in SIGNING_KEY_FILE as a JWK Set of
private keys. The first key signs; every key in the file is published at
/.well-known/jwks.json, so that what an older key signed still verifies after a rotation
(a new key is put first; an old one is retired by removing it from the file).

Production refuses to start without the file (server/config.py). Development and the tests
use var/signing-keys.json, made on first use. `consent-wallet signing-keys add|retire|list`
rotates the keys in the file (`add_key`, `retire_key`); processes read it when they start.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
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


def stored(key: ECKey) -> dict[str, Any]:
    """A private key as the file keeps it, with its id."""
    return {**key.as_dict(private=True), "kid": key.kid}


def _generated() -> ECKey:
    return ECKey.generate_key(CURVE, {"use": "sig", "alg": ALG}, auto_kid=True)


def new_key() -> dict[str, Any]:
    """A new private key, named by its RFC 7638 thumbprint."""
    return stored(_generated())


def _written_aside(path: Path, keys: list[dict[str, Any]]) -> str:
    """A file of these keys next to `path`, readable by its owner only (mkstemp's 0600),
    on disk before it is put in place, so the key file is always whole."""
    descriptor, aside = tempfile.mkstemp(dir=path.parent, prefix=".signing-keys-")
    try:
        with os.fdopen(descriptor, "w") as out:
            json.dump({"keys": keys}, out)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        os.unlink(aside)
        raise
    return aside


def write_new(path: Path) -> bool:
    """Make a key file with one new key, unless the file exists (the first writer wins),
    readable by its owner only. The file appears whole or not at all (written aside, then
    linked into place), so a process starting meanwhile never reads half of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        return False
    aside = _written_aside(path, [new_key()])
    try:
        os.link(aside, path)
    except FileExistsError:
        return False
    finally:
        os.unlink(aside)
    return True


def _rewrite(path: Path, keys: list[ECKey]) -> None:
    """Replace the key file with these keys at once (a rename), readable by its owner only,
    and owned as the old one was (an operator using sudo leaves it readable by the service)."""
    owner = path.stat()
    aside = _written_aside(path, [stored(key) for key in keys])
    try:
        if (owner.st_uid, owner.st_gid) != (os.geteuid(), os.getegid()):
            os.chown(aside, owner.st_uid, owner.st_gid)
        os.replace(aside, path)
    except BaseException:
        os.unlink(aside)
        raise


class Refused(ValueError):
    """A rotation that would break signing (retiring the key that signs) or names no key."""

    def __init__(self, detail: str, *, code: str) -> None:
        super().__init__(detail)
        self.code = code


def add_key(path: Path) -> Signer:
    """Put a new key first in the file (it signs from the processes' next start; every key
    stays published); a missing file is made with it alone."""
    path = Path(path)
    if not write_new(path):
        _rewrite(path, [_generated(), *load(path).keys])
    return load(path)


def retire_key(path: Path, kid: str) -> Signer:
    """Remove a key that no longer signs: what it signed stops verifying against the
    published keys once the processes restart. The signing key is never retired."""
    path = Path(path)
    keys = load(path)
    if kid == keys.active.kid:
        raise Refused(
            f"{kid} is the signing key: add a new key first, restart, then retire this one.",
            code="signing_key",
        )
    kept = [key for key in keys.keys if key.kid != kid]
    if len(kept) == len(keys.keys):
        raise Refused(f"No key {kid} in {path}.", code="not_found")
    _rewrite(path, kept)
    return load(path)


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


def key_file(config: Mapping[str, Any]) -> Path:
    """SIGNING_KEY_FILE, or development's file when it is unset (made on first use; never
    in production, which needs the file, as config.check_production says at start-up)."""
    path = config.get("SIGNING_KEY_FILE")
    if path:
        return Path(path)
    if config.get("APP_ENV") == "production":
        raise ConfigError("production needs SIGNING_KEY_FILE; development's file is not used")
    write_new(DEVELOPMENT_FILE)
    return DEVELOPMENT_FILE


def init_app(app: Flask) -> None:
    """Load the signing keys (making development's on first use) and publish them."""
    app.extensions["signer"] = load(key_file(app.config))
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
