"""Check a patient's export against its signed checkpoint and the service's published keys,
with no database and nothing of the service's but this code (`consent-wallet audit
check-export`): the checkpoint's signature, each payload against its leaf's commitment, and
each entry's inclusion proof against the checkpoint's root. The first that fails is named."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from consent_api.audit import entries, merkle


def _b(value: str) -> bytes:
    return base64.b64decode(value)


def leaf_of(entry: dict[str, Any]) -> bytes:
    """An exported entry's leaf hash, rebuilt as the contract documents it."""
    return entries.Entry(
        kind=entry["kind"],
        actor_type=entry["actor"]["type"],
        actor_id=entry["actor"]["id"],
        subjects=entry["subjects"],
        occurred_at=datetime.fromisoformat(entry["occurred_at"]),
        payload_commitment=_b(entry["commitment"]),
    ).leaf_hash()


def check_export(document: dict[str, Any], jwks: dict[str, Any]) -> dict[str, Any]:
    """Check the export's audit log; {"ok": True, ...} or the first failure."""
    audit = document.get("audit") or {}
    listed = audit.get("entries") or []
    checkpoint = audit.get("checkpoint")
    if checkpoint is None:
        return {"ok": not listed, "entries": len(listed), "problem": "no checkpoint to check"}
    try:
        token = jws.deserialize_compact(checkpoint["signed"], KeySet.import_key_set(jwks))
        claims = json.loads(token.payload)
    except (JoseError, ValueError, KeyError, TypeError):
        return {"ok": False, "problem": "the checkpoint's signature does not verify"}
    if (
        claims.get("tree_size") != checkpoint["tree_size"]
        or claims.get("root") != checkpoint["root"]
    ):
        return {"ok": False, "problem": "the checkpoint says other than what was signed"}
    size, root = claims["tree_size"], _b(claims["root"])
    proved = 0
    for entry in listed:
        failed = {"ok": False, "entry_id": entry.get("id")}
        try:
            leaf = leaf_of(entry)
            if entry.get("payload") is not None:
                opened = entries.Opened(_b(entry["salt"]), entry["payload"])
                if not opened.matches(_b(entry["commitment"])):
                    return {**failed, "problem": "the payload does not match its commitment"}
            if entry.get("leaf_index") is None:
                continue  # not in the tree yet when exported
            path = [_b(step) for step in entry["path"]]
        except (KeyError, TypeError, ValueError):
            return {**failed, "problem": "the entry is malformed"}
        if not merkle.verify_inclusion(leaf, entry["leaf_index"], size, path, root):
            return {**failed, "problem": "the entry is not in the checkpoint's tree"}
        proved += 1
    return {"ok": True, "entries": len(listed), "proved": proved, "tree_size": size}
