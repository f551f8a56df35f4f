"""An organisation's public keys for private_key_jwt: one JWK Set, read one way at
registration and at the token endpoint, so a set that registers is a set that works.

Keys are imported with joserfc, the JOSE library authlib verifies client assertions with
(authlib's own `authlib.jose.JsonWebKey` is deprecated in its favour)."""

from __future__ import annotations

from typing import Any

from joserfc.jwk import ECKey, KeySet, RSAKey

# The key families of the algorithms client assertions may use (RS256/384, ES256/384).
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
    key_class = KEY_TYPES.get(data.get("kty"))
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
    return key
