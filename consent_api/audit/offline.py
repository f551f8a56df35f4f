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


def check_export(document: Any, jwks: Any) -> dict[str, Any]:
    """Check the export's audit log; {"ok": True, ...} or the first failure. Every entry
    must be proved: one exported before the log had sequenced it proves nothing yet."""
    audit = document.get("audit") if isinstance(document, dict) else None
    if not isinstance(audit, dict) or not isinstance(audit.get("entries"), list):
        return {"ok": False, "problem": "the export carries no audit log"}
    listed = audit["entries"]
    checkpoint = audit.get("checkpoint")
    if checkpoint is None:
        return {"ok": not listed, "entries": len(listed), "problem": "no checkpoint to check"}
    try:
        token = jws.deserialize_compact(checkpoint["signed"], KeySet.import_key_set(jwks))
        claims = json.loads(token.payload)
    except (JoseError, ValueError, KeyError, TypeError, AttributeError):
        return {"ok": False, "problem": "the checkpoint's signature does not verify"}
    if (
        not isinstance(claims, dict)
        or claims.get("tree_size") != checkpoint.get("tree_size")
        or claims.get("root") != checkpoint.get("root")
    ):
        return {"ok": False, "problem": "the checkpoint says other than what was signed"}
    size, root = claims["tree_size"], _b(claims["root"])
    seen_ids, seen_leaves = set(), set()
    for entry in listed:
        problem = _entry_problem(entry, size, root, seen_ids, seen_leaves)
        if problem is not None:
            named = entry.get("id") if isinstance(entry, dict) else None
            return {"ok": False, "entry_id": named, "problem": problem}
    return {"ok": True, "entries": len(listed), "proved": len(listed), "tree_size": size}


def _entry_problem(
    entry: Any, size: int, root: bytes, seen_ids: set[Any], seen_leaves: set[int]
) -> str | None:
    """What is wrong with one exported entry, if anything."""
    try:
        leaf = leaf_of(entry)
        if entry.get("payload") is not None:
            opened = entries.Opened(_b(entry["salt"]), entry["payload"])
            if not opened.matches(_b(entry["commitment"])):
                return "the payload does not match its commitment"
        index = entry.get("leaf_index")
        if index is None:
            return "the entry is not proved in the checkpoint (export again once it is sequenced)"
        if not isinstance(index, int) or isinstance(index, bool):
            return "the entry is malformed"
        path = [_b(step) for step in entry["path"]]
        if entry["id"] in seen_ids or index in seen_leaves:
            return "another entry of the export has the same id or leaf"
        seen_ids.add(entry["id"])
    except (KeyError, TypeError, ValueError, AttributeError):
        return "the entry is malformed"
    seen_leaves.add(index)
    if not merkle.verify_inclusion(leaf, index, size, path, root):
        return "the entry is not in the checkpoint's tree"
    return None
