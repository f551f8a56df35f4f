"""A tree head as the service signs it (a checkpoint): who keeps the log (`origin`, the
service's issuer URL), its size, its root and when, as a compact JWS (ES256) by the signing
key published at /.well-known/jwks.json. Anyone holding one can later ask for a consistency
proof to a newer one, and see that the log only grew."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from flask import current_app

from server import signing

TYP = "audit-checkpoint+jwt"


def claims(tree_size: int, root: bytes, when: datetime) -> dict[str, Any]:
    """What a checkpoint says."""
    return {
        "origin": current_app.config["ISSUER"],
        "tree_size": tree_size,
        "root": base64.b64encode(root).decode(),
        "timestamp": int(when.timestamp() * 1000),
    }


def sign(tree_size: int, root: bytes, when: datetime) -> str:
    """The signed checkpoint of a tree head."""
    return signing.signer().sign(claims(tree_size, root, when), typ=TYP)
