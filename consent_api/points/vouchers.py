"""Voucher codes of redemptions: derived from the redemption's id with a keyed hash, so none
is stored (a copy of the database alone shows no code) and the same one is shown every time.

Twelve characters of an alphabet without look-alikes (no 0/O, 1/I), in groups of four: 60
bits, read out at a till or typed in a shop's form. Derived with SECRET_KEY: rotating it
changes the codes shown for past redemptions.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid

from flask import current_app

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # 32 characters: 5 bits each


def _key() -> bytes:
    secret = current_app.config["SECRET_KEY"].encode()
    return hashlib.sha256(b"consent-wallet voucher codes\x00" + secret).digest()


def code_for(redemption_id: uuid.UUID) -> str:
    """The voucher code of one redemption."""
    digest = hmac.new(_key(), redemption_id.bytes, hashlib.sha256).digest()
    number = int.from_bytes(digest[:8], "big") >> 4  # 60 bits
    chars = [ALPHABET[(number >> (5 * i)) & 31] for i in range(12)]
    return "-".join("".join(chars[i : i + 4]) for i in (0, 4, 8))
