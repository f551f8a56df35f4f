"""An organisation's public keys for private_key_jwt: one JWK Set, read one way at
registration and at the token endpoint, so a set that registers is a set that works.

Keys are imported with joserfc, the JOSE library authlib verifies client assertions with
(authlib's own `authlib.jose.JsonWebKey` is deprecated in its favour)."""

from __future__ import annotations

from typing import Any

from joserfc.jwk import ECKey, KeySet, RSAKey

# The algorithms client assertions may be signed with (SMART Backend Services asks for RS384
# and ES384), each with the key it needs: its key type, and for EC the curve it names.
ALGORITHMS = {
    "RS256": ("RSA", None),
    "RS384": ("RSA", None),
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
}
KEY_TYPES = {"RSA": RSAKey, "EC": ECKey}
# JWK members that only a private or symmetric key has (RFC 7518 6.2.2, 6.3.2, 6.4.1).
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
MAX_KEYS = 10


class UnusableKeys(ValueError):
    """A JWK Set that cannot verify client assertions; the message says why."""


def public_key_set(jwks: Any) -> KeySet:
    """Import a JWK Set of public RSA or EC keys, each of them, or raise `UnusableKeys`.

    Stricter than RFC 7517 5, which skips keys it does not understand: a key we would skip
    is a registration mistake, said at once rather than found at the first token request.
    """
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise UnusableKeys("A JWK Set is an object with a 'keys' list.")
    if not 1 <= len(jwks["keys"]) <= MAX_KEYS:
        raise UnusableKeys(f"A JWK Set here holds 1 to {MAX_KEYS} keys.")
    return KeySet([_public_key(index, data) for index, data in enumerate(jwks["keys"])])


def _public_key(index: int, data: Any) -> RSAKey | ECKey:
    where = f"Key {index}"
    if not isinstance(data, dict):
        raise UnusableKeys(f"{where} is not a JSON object.")
    kty = data.get("kty")
    key_class = KEY_TYPES.get(kty) if isinstance(kty, str) else None
    if key_class is None:
        raise UnusableKeys(f"{where}: 'kty' must be 'RSA' or 'EC' (a public signing key).")
    if PRIVATE_MEMBERS & data.keys():
        raise UnusableKeys(f"{where} holds private key material; register the public key only.")
    try:
        key = key_class.import_key(data)
    # joserfc raises whatever its parsers raise (JoseError, binascii.Error, ValueError, a
    # KeyError for an unknown curve): any of them means this key cannot be used.
    except Exception as error:
        reason = str(error).strip()
        raise UnusableKeys(
            f"{where} is not a valid {data['kty']} public key" + (f": {reason}" if reason else ".")
        ) from error
    if key.is_private:
        raise UnusableKeys(f"{where} holds private key material; register the public key only.")
    _check_for_signatures(where, data)
    return key


def _check_for_signatures(where: str, data: dict[str, Any]) -> None:
    """Refuse a key that no accepted assertion could be verified with: one for an algorithm
    we do not accept (or one it cannot serve), of a curve no accepted algorithm uses, or
    meant for anything but verifying signatures (RFC 7517 4.2 to 4.4)."""
    usable = [
        alg
        for alg, (kty, crv) in ALGORITHMS.items()
        if kty == data["kty"] and crv in (None, data.get("crv"))
    ]
    accepted = ", ".join(ALGORITHMS)
    if not usable:
        raise UnusableKeys(
            f"{where}: its curve serves none of the accepted algorithms ({accepted})."
        )
    if "alg" in data and data["alg"] not in usable:
        raise UnusableKeys(
            f"{where}: 'alg' must be one of {', '.join(usable)} for this key "
            f"(client assertions are signed with {accepted})."
        )
    if "use" in data and data["use"] != "sig":
        raise UnusableKeys(f"{where}: 'use' must be 'sig' (a key that verifies signatures).")
    key_ops = data.get("key_ops", ["verify"])
    if not isinstance(key_ops, list) or "verify" not in key_ops:
        raise UnusableKeys(f"{where}: 'key_ops' must be a list that includes 'verify'.")
