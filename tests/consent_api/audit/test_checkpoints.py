"""Every tree head the sequencer writes is signed (a checkpoint): verified here with an
independent implementation against the published keys, it says the tree's size and root;
a checkpoint with another root does not verify."""

from __future__ import annotations

import base64

from sqlalchemy import select

from consent_api.audit import sequencer
from consent_api.audit.models import AuditTreeHead
from server.db import db, utcnow
from tests.conftest import bearer
from tests.jose_check import verified, with_claims


def test_each_tree_head_is_signed_with_its_size_and_root(client, grant):
    for _ in range(3):
        _, consent, token = grant()
        url = f"/v1/me/consents/{consent['id']}/revoke"
        assert client.post(url, json={}, headers=bearer(token)).status_code == 200
    for batch in (2, 4):
        sequencer.sequence(now=utcnow(), batch=batch)
    published = client.get("/.well-known/jwks.json").json

    heads = db.session.scalars(select(AuditTreeHead).order_by(AuditTreeHead.tree_size)).all()

    assert [head.tree_size for head in heads] == [2, 6]
    for head in heads:
        header, claims = verified(head.signed, published)
        assert header["typ"] == "audit-checkpoint+jwt"
        assert claims["tree_size"] == head.tree_size
        assert base64.b64decode(claims["root"]) == bytes(head.root)
        assert claims["origin"] == "http://localhost"
        assert claims["timestamp"] == int(head.created_at.timestamp() * 1000)
        forged = with_claims(head.signed, {**claims, "root": base64.b64encode(bytes(32)).decode()})
        assert verified(forged, published) is None
