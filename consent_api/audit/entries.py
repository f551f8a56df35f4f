"""What one audit entry commits to, and how its personal content can be erased later
without breaking the tree.

An entry is: what happened (`kind`), who did it (`actor`: patient, organisation, operator or
system, and their id), the ids it concerns (`subjects`), when, and a payload (what the event
said: terms, reasons, amounts). Its leaf in the Merkle tree is the RFC 8785 canonical JSON
of everything but the payload, with a commitment to the payload in its place:
SHA-256(salt || canonical payload), the salt 16 random bytes of the entry's own.

The payload and its salt are kept sealed (AES-256-GCM) with a key of the patient's own.
Erasure destroys the key: the payload cannot be read any more, and neither can the salt, so
the commitment cannot be brute-forced into the payload it hides (a short payload such as
{"state": "revoked"} could be, were it hashed bare); the leaf, and every proof through it,
still verify. Ids are pseudonymous, as the rest of the record erasure keeps.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from consent_api.audit import merkle

VERSION = 1
SALT_BYTES, NONCE_BYTES, KEY_BYTES = 16, 12, 32
ACTORS = ("patient", "organisation", "operator", "system")


def canonical(value: Any) -> bytes:
    """RFC 8785 canonical JSON: one byte string for one value, whoever serialises it.

    rfc8785 writes it; for a value with no float and only keys of the Basic Multilingual
    Plane (what entries hold: ids, codes, texts, counts), the standard library's JSON with
    sorted keys, no spaces and no ASCII escaping writes the same bytes about five times
    faster (tests compare the two on generated values), which the fan-out and the data
    use's hot path feel."""
    if _plain(value):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    return rfc8785.dumps(value)


def _plain(value: Any) -> bool:
    """Whether JSON with sorted keys writes `value` as RFC 8785 does: no float (whose form
    the RFC fixes), no key outside the BMP (sorted by UTF-16 code units there)."""
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is dict:
            for key, inner in item.items():
                if type(key) is not str or (not key.isascii() and max(key) > "\uffff"):
                    return False
                pending.append(inner)
        elif kind is list or kind is tuple:
            pending.extend(item)
        elif kind is float:
            return False
    return True


def moment(when: datetime) -> str:
    """A time as entries write it: UTC, microseconds, `Z`."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def commitment(salt: bytes, payload: dict[str, Any]) -> bytes:
    """What the leaf holds of the payload: SHA-256(salt || canonical payload)."""
    return hashlib.sha256(salt + canonical(payload)).digest()


@dataclass(frozen=True)
class Entry:
    """One entry of the log, as its leaf commits to it."""

    kind: str
    actor_type: str
    actor_id: str | None
    subjects: dict[str, str]
    occurred_at: datetime
    payload_commitment: bytes

    def leaf_data(self) -> bytes:
        """The leaf's data: the canonical entry, the payload by its commitment only."""
        return canonical(
            {
                "v": VERSION,
                "kind": self.kind,
                "actor": {"type": self.actor_type, "id": self.actor_id},
                "subjects": self.subjects,
                "occurred_at": moment(self.occurred_at),
                "payload": self.payload_commitment.hex(),
            }
        )

    def leaf_hash(self) -> bytes:
        """The entry's leaf hash in the tree (RFC 9162)."""
        return merkle.leaf_hash(self.leaf_data())


def new_key() -> bytes:
    """A patient's audit key (AES-256)."""
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


@dataclass(frozen=True)
class Sealed:
    """A payload sealed for storage, and the commitment its leaf holds."""

    commitment: bytes
    sealed: bytes


def seal(key: bytes, payload: dict[str, Any], *, entry_id: bytes) -> Sealed:
    """Seal the payload and a fresh salt under the patient's key, bound to the entry (the
    sealed bytes of one entry do not open as another's)."""
    salt = os.urandom(SALT_BYTES)
    nonce = os.urandom(NONCE_BYTES)
    plain = salt + canonical(payload)
    sealed = nonce + AESGCM(key).encrypt(nonce, plain, entry_id)
    return Sealed(hashlib.sha256(plain).digest(), sealed)  # the commitment: SHA-256(salt || JSON)


def unsealed(payload: dict[str, Any]) -> Sealed:
    """A payload that concerns no patient (an operator's, the system's), kept with its salt
    as it is: its commitment is made the same way."""
    plain = os.urandom(SALT_BYTES) + canonical(payload)
    return Sealed(hashlib.sha256(plain).digest(), plain)


def open_unsealed(kept: bytes) -> Opened:
    """Read a payload kept as it is."""
    return Opened(kept[:SALT_BYTES], json.loads(kept[SALT_BYTES:]))


@dataclass(frozen=True)
class Opened:
    """A sealed payload, opened: what a patient's export carries, to check against the leaf."""

    salt: bytes
    payload: dict[str, Any]

    def matches(self, expected: bytes) -> bool:
        """Whether this is the payload the leaf committed to."""
        return hmac.compare_digest(commitment(self.salt, self.payload), expected)


class Unreadable(ValueError):
    """The sealed payload does not open with this key (erased, altered, or another's)."""


def open_sealed(key: bytes, sealed: bytes, *, entry_id: bytes) -> Opened:
    """Open a sealed payload with the patient's key."""
    nonce, body = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]
    try:
        plain = AESGCM(key).decrypt(nonce, body, entry_id)
    except InvalidTag:
        raise Unreadable("the payload does not open with this key") from None
    return Opened(plain[:SALT_BYTES], json.loads(plain[SALT_BYTES:]))
