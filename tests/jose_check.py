"""An independent check of the service's compact JWS (ES256), written with `cryptography`
alone, not joserfc that signs them: the tests verify signatures with a different
implementation than the one that made them."""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verified(token: str, jwks: dict[str, Any]) -> tuple[dict, dict] | None:
    """(header, claims) when the token's ES256 signature verifies with the key its `kid`
    names in `jwks`; None otherwise."""
    try:
        header_b64, payload_b64, signature_b64 = token.split(".")
        header = json.loads(_unb64(header_b64))
    except ValueError:
        return None
    if header.get("alg") != "ES256":
        return None
    key = next((k for k in jwks["keys"] if k.get("kid") == header.get("kid")), None)
    if key is None or key.get("kty") != "EC" or key.get("crv") != "P-256":
        return None
    public = ec.EllipticCurvePublicNumbers(
        int.from_bytes(_unb64(key["x"]), "big"),
        int.from_bytes(_unb64(key["y"]), "big"),
        ec.SECP256R1(),
    ).public_key()
    raw = _unb64(signature_b64)
    if len(raw) != 64:
        return None
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        public.verify(der, f"{header_b64}.{payload_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return None
    return header, json.loads(_unb64(payload_b64))


def with_claims(token: str, claims: dict) -> str:
    """The token with other claims and its old signature (a forgery)."""
    header_b64, _, signature_b64 = token.split(".")
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header_b64}.{payload}.{signature_b64}"
