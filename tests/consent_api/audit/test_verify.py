"""`consent-wallet audit verify`: the log checked against itself. Untouched, it holds; a row
changed behind the triggers' back (an entry, a leaf, a subtree, a tree head) is named."""

from __future__ import annotations

import json

import pytest
from flask.cli import ScriptInfo
from sqlalchemy import select, text, update

from consent_api.audit import sequencer
from consent_api.audit.models import AuditEntry, AuditLeaf, AuditNode, AuditTreeHead
from consent_api.audit.verify import completed_ranges, verify
from server.cli import main
from server.db import db, utcnow
from tests.conftest import bearer


@pytest.fixture
def log(client, grant):
    """Seven consents each granted and revoked (14 entries), sequenced in uneven batches."""
    for _ in range(7):
        _, consent, token = grant()
        url = f"/v1/me/consents/{consent['id']}/revoke"
        assert client.post(url, json={}, headers=bearer(token)).status_code == 200
    for batch in (5, 1, 6, 2):
        sequencer.sequence(now=utcnow(), batch=batch)
    return db.session.scalars(select(AuditLeaf).order_by(AuditLeaf.leaf_index)).all()


def _behind_the_triggers(statement) -> None:
    """Change an append-only row as someone with database access could (the triggers off,
    for this transaction only)."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL session_replication_role = replica"))
        db.session.execute(statement)
        db.session.execute(text("SET LOCAL session_replication_role = origin"))
        return
    table = statement.table.name
    kept = db.session.execute(
        text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t"),
        {"t": table},
    ).all()
    for name, _ in kept:
        db.session.execute(text(f'DROP TRIGGER "{name}"'))
    db.session.execute(statement)
    for _, sql in kept:
        db.session.execute(text(sql))


def _run_cli(app):
    from click.testing import CliRunner

    result = CliRunner().invoke(main, ["audit", "verify"], obj=ScriptInfo(create_app=lambda: app))
    return result.exit_code, json.loads(result.stdout)


def test_a_page_reads_exactly_the_subtrees_its_leaves_complete():
    for start in range(40):
        for end in range(start + 1, 70):
            wanted = {
                (height, position)
                for height in range(1, 8)
                for position in range(70)
                if start < (position + 1) << height <= end
            }
            ranges = completed_ranges(start, end)
            assert {(h, p) for h, first, last in ranges for p in range(first, last + 1)} == wanted


def test_an_untouched_log_verifies(app, log):
    found = verify(page=3)
    assert found.as_dict() == {"ok": True, "tree_size": 14, "heads_checked": 4, "problem": None}
    code, printed = _run_cli(app)
    assert (code, printed["ok"], printed["tree_size"]) == (0, True, 14)


def test_an_entry_changed_afterwards_is_named(app, log):
    target = log[9]
    _behind_the_triggers(
        update(AuditEntry).where(AuditEntry.id == target.entry_id).values(kind="consent.granted")
    )
    found = verify(page=4)
    assert found.problem == {
        "leaf_index": 9,
        "entry_id": str(target.entry_id),
        "what": "entry does not hash to its leaf",
    }
    code, printed = _run_cli(app)
    assert (code, printed["problem"]["entry_id"]) == (1, str(target.entry_id))


def test_a_leaf_changed_afterwards_is_named(log):
    _behind_the_triggers(update(AuditLeaf).where(AuditLeaf.leaf_index == 3).values(hash=bytes(32)))
    assert verify().problem["leaf_index"] == 3


def test_a_subtree_changed_afterwards_is_named(log):
    _behind_the_triggers(
        update(AuditNode)
        .where(AuditNode.height == 2, AuditNode.position == 1)
        .values(hash=bytes(32))
    )
    assert verify(page=2).problem == {
        "leaf_index": 7,
        "height": 2,
        "position": 1,
        "what": "stored subtree does not match its leaves",
    }


def test_a_tree_head_changed_afterwards_is_named(log):
    _behind_the_triggers(
        update(AuditTreeHead).where(AuditTreeHead.tree_size == 6).values(root=bytes(32))
    )
    assert verify().problem == {"tree_size": 6, "what": "tree head's root does not match"}
