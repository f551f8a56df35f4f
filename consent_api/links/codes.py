"""Link codes as people read them out: twelve characters of Crockford's base32, in three
groups ("7KQ2-M9XD-4TRV"), read back forgivingly (any case; hyphens and any whitespace, such
as a scanner's trailing newline, ignored; O as zero, I and L as one). The first four
characters are the code's handle, which finds it; the other eight (40 bits) are its secret.
Pure functions."""

from __future__ import annotations

import hashlib
import hmac
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O, U
HANDLE_CHARS = 4
SECRET_CHARS = 8
GROUP = 4
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1", "-": None})


def new() -> tuple[str, str]:
    """A fresh (handle, secret)."""
    handle = "".join(secrets.choice(ALPHABET) for _ in range(HANDLE_CHARS))
    secret = "".join(secrets.choice(ALPHABET) for _ in range(SECRET_CHARS))
    return handle, secret


def display(handle: str, secret: str) -> str:
    """The code as shown to the patient and read out at the desk."""
    whole = handle + secret
    return "-".join(whole[i : i + GROUP] for i in range(0, len(whole), GROUP))


def split(raw: object) -> tuple[str, str] | None:
    """(handle, secret) of a code as typed, or None when it cannot be one."""
    if not isinstance(raw, str) or len(raw) > 40:
        return None
    whole = "".join(raw.split()).upper().translate(_READ_AS)  # any whitespace: scanners, pastes
    if len(whole) != HANDLE_CHARS + SECRET_CHARS or any(c not in ALPHABET for c in whole):
        return None
    return whole[:HANDLE_CHARS], whole[HANDLE_CHARS:]


def digest(key: str, handle: str, secret: str) -> str:
    """The keyed hash a code's secret is kept as."""
    return hmac.new(key.encode(), f"{handle}:{secret}".encode(), hashlib.sha256).hexdigest()
