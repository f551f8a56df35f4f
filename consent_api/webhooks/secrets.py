"""Signing secrets of webhook endpoints: made here, shown once, kept sealed.

A signing secret must be used again to sign, so it cannot be kept hashed like a client
secret: it is kept encrypted (AES-GCM) under a key derived from PSEUDONYM_KEY, so that a
copy of the database alone does not let anyone forge our webhooks. Secrets follow Standard
Webhooks: `whsec_` and the base64 of 32 random bytes.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
import secrets as random

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app

PREFIX = "whsec_"
_LABEL = b"consent-wallet webhook signing secrets"


def new_secret() -> str:
    """A fresh signing secret, in the form the receivers' libraries read."""
    return PREFIX + base64.b64encode(random.token_bytes(32)).decode()


@functools.lru_cache(maxsize=8)
def _aead(key: str) -> AESGCM:
    return AESGCM(hmac.new(key.encode(), _LABEL, hashlib.sha256).digest())


def _cipher() -> AESGCM:
    return _aead(current_app.config["PSEUDONYM_KEY"])


def seal(secret: str) -> str:
    """Encrypt a secret for keeping."""
    nonce = os.urandom(12)
    return base64.b64encode(nonce + _cipher().encrypt(nonce, secret.encode(), _LABEL)).decode()


def unseal(sealed: str) -> str:
    """Decrypt a kept secret."""
    raw = base64.b64decode(sealed)
    return _cipher().decrypt(raw[:12], raw[12:], _LABEL).decode()
