"""Per-organisation pseudonymous patient references: what organisations call a patient.

An organisation never sees the wallet's internal patient id. It sees a `patient_ref` that is
the patient id encrypted under a key of its own (derived from PSEUDONYM_KEY and the
organisation's id): stable, different for every organisation, and unlinkable across
organisations without the key. A reference decodes back to the patient id by computation
alone, with no table to read, so naming a patient this way costs the consent check no round
trip. A short tag (an HMAC of the ciphertext under a second key of the organisation's) tells
a reference we gave this organisation from one we gave another, or one made up: those decode
to nothing.

Layout: 16 bytes of AES-256 ciphertext of the 16 bytes of the patient id (one block: AES is
a pseudorandom permutation, so one block needs no mode), then a 4-byte tag; lower-case
base32, 32 characters, also a valid FHIR id. A forged tag passing (2^-32) still decodes to a
random id that is nobody's, so the tag is for clear answers, not for secrecy.

Changing PSEUDONYM_KEY changes every reference an organisation holds: treat it like data.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import re
import uuid
from collections.abc import Iterable, Sequence

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from flask import current_app

TAG_BYTES = 4
LENGTH = 32  # base32 characters of 16 + 4 bytes, no padding
_SHAPE = re.compile(r"[a-z2-7]{32}")


@functools.lru_cache(maxsize=4096)
def _keys(secret: str, org_id: uuid.UUID) -> tuple[Cipher, bytes]:
    master = secret.encode()
    cipher_key = hmac.digest(master, b"patient-ref/cipher/" + org_id.bytes, "sha256")
    tag_key = hmac.digest(master, b"patient-ref/tag/" + org_id.bytes, "sha256")
    # One block per id, each its own message: ECB over one block is the bare block cipher.
    return Cipher(algorithms.AES(cipher_key), modes.ECB()), tag_key  # noqa: S305


def encode_many(org_id: uuid.UUID, patient_ids: Sequence[uuid.UUID]) -> list[str]:
    """The references `org_id` knows these patients by, in order."""
    return encode_with(current_app.config["PSEUDONYM_KEY"], org_id, patient_ids)


def encode_with(secret: str, org_id: uuid.UUID, patient_ids: Sequence[uuid.UUID]) -> list[str]:
    """`encode_many` under a given PSEUDONYM_KEY, outside the app (the bench's data)."""
    if not patient_ids:
        return []
    cipher, tag_key = _keys(secret, org_id)
    encryptor = cipher.encryptor()
    blocks = encryptor.update(b"".join(p.bytes for p in patient_ids)) + encryptor.finalize()
    refs = []
    for start in range(0, len(blocks), 16):
        block = blocks[start : start + 16]
        tag = hmac.digest(tag_key, block, "sha256")[:TAG_BYTES]
        refs.append(base64.b32encode(block + tag).decode().lower())
    return refs


def encode(org_id: uuid.UUID, patient_id: uuid.UUID) -> str:
    """The reference `org_id` knows one patient by."""
    return encode_many(org_id, [patient_id])[0]


def decode_many(org_id: uuid.UUID, refs: Iterable[object]) -> list[uuid.UUID | None]:
    """The patient ids behind references sent by `org_id`, in order; None where a value is
    not a reference this organisation was given."""
    return decode_with(current_app.config["PSEUDONYM_KEY"], org_id, refs)


def decode_with(secret: str, org_id: uuid.UUID, refs: Iterable[object]) -> list[uuid.UUID | None]:
    """`decode_many` under a given PSEUDONYM_KEY, outside the app."""
    cipher, tag_key = _keys(secret, org_id)
    found: list[uuid.UUID | None] = []
    blocks: list[bytes] = []
    places: list[int] = []
    for ref in refs:
        found.append(None)
        if not isinstance(ref, str) or not _SHAPE.fullmatch(ref := ref.lower()):
            continue
        try:
            raw = base64.b32decode(ref.upper())
        except binascii.Error:
            continue
        block, tag = raw[:16], raw[16:]
        if hmac.compare_digest(hmac.digest(tag_key, block, "sha256")[:TAG_BYTES], tag):
            blocks.append(block)
            places.append(len(found) - 1)
    if blocks:
        decryptor = cipher.decryptor()
        plain = decryptor.update(b"".join(blocks)) + decryptor.finalize()
        for n, place in enumerate(places):
            found[place] = uuid.UUID(bytes=plain[16 * n : 16 * n + 16])
    return found


def decode(org_id: uuid.UUID, ref: object) -> uuid.UUID | None:
    """The patient id behind one reference sent by `org_id`, or None."""
    return decode_many(org_id, [ref])[0]
