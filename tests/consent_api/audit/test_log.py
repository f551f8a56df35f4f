"""The audit log, through the API: every consent version makes an entry, sealed under the
patient's key; the sequencer hashes the entries into the tree in order, batch after batch;
every entry proves its inclusion, and every tree head its consistency with the newer ones;
the rows are append-only; erasure destroys the key and leaves the proofs verifiable."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import delete, event, select, update
from sqlalchemy.exc import DBAPIError

from consent_api.audit import entries, merkle, proofs, sequencer
from consent_api.audit.log import as_entry
from consent_api.audit.models import AuditEntry, AuditKey, AuditLeaf, AuditTreeHead
from server.db import db, utcnow
from tests.conftest import bearer
from tests.support import run_job_now


def _entries(patient_id) -> list[AuditEntry]:
    return list(
        db.session.scalars(
            select(AuditEntry)
            .where(AuditEntry.patient_id == patient_id)
            .order_by(AuditEntry.recorded_at, AuditEntry.id)
        )
    )


def _in_tree_order() -> tuple[list[AuditEntry], merkle.MemoryTree]:
    """The sequenced entries by leaf index, and the tree their leaves make in memory."""
    rows = db.session.scalars(
        select(AuditEntry)
        .join(AuditLeaf, AuditLeaf.entry_id == AuditEntry.id)
        .order_by(AuditLeaf.leaf_index)
    ).all()
    return rows, merkle.MemoryTree([as_entry(row).leaf_hash() for row in rows])


def _life_of_a_consent(client, grant):
    """Grant, pause, resume and revoke one consent through the API."""
    patient, consent, token = grant()
    url = f"/v1/me/consents/{consent['id']}"
    for step in ("pause", "resume"):
        assert client.post(f"{url}/{step}", headers=bearer(token)).status_code == 200
    revoked = client.post(f"{url}/revoke", json={"reason": "no more"}, headers=bearer(token))
    assert revoked.status_code == 200
    return patient, consent, token


def test_every_consent_version_is_an_entry_sealed_under_the_patients_key(client, grant):
    patient, consent, _ = _life_of_a_consent(client, grant)

    found = _entries(patient.id)

    assert [entry.kind for entry in found] == [
        "consent.granted",
        "consent.paused",
        "consent.resumed",
        "consent.revoked",
    ]
    key = db.session.get(AuditKey, patient.id).key
    for version, entry in enumerate(found, start=1):
        assert entry.subjects == {
            "patient": str(patient.id),
            "consent": consent["id"],
            "version": str(version),
        }
        assert (entry.actor_type, entry.actor_id) == ("patient", str(patient.id))
        assert b"no more" not in entry.payload  # sealed
        opened = entries.open_sealed(key, entry.payload, entry_id=entry.id.bytes)
        assert opened.matches(entry.commitment)
        assert opened.payload["consent"]["version"] == version
    assert opened.payload["consent"]["revoke_reason"] == "no more"  # the patient's words, sealed


def test_the_sequencer_builds_the_tree_every_entry_proves_itself_in(client, grant):
    for _ in range(3):
        _life_of_a_consent(client, grant)
    assert run_job_now("sequence-audit") == 12
    assert run_job_now("sequence-audit") == 0

    rows, expected = _in_tree_order()
    head = proofs.latest_head()
    assert head.tree_size == 12
    assert bytes(head.root) == merkle.root(expected.perfect, 12)
    for index, row in enumerate(rows):
        proof = proofs.inclusion(row.id)
        assert proof.leaf_index == index
        assert merkle.verify_inclusion(
            as_entry(row).leaf_hash(), index, proof.tree_size, proof.path, bytes(head.root)
        )


def test_batches_of_any_size_make_the_same_tree(client, grant):
    for _ in range(5):
        _life_of_a_consent(client, grant)  # 20 entries
    sizes = []
    for batch in (1, 2, 3, 5, 4, 1, 4):
        sizes.append(sequencer.sequence(now=utcnow(), batch=batch))
    assert sum(sizes) == 20
    _, expected = _in_tree_order()
    heads = db.session.scalars(select(AuditTreeHead).order_by(AuditTreeHead.tree_size)).all()
    assert [h.tree_size for h in heads] == [1, 3, 6, 11, 15, 16, 20]
    for older in heads:
        assert bytes(older.root) == merkle.root(expected.perfect, older.tree_size)
        for newer in heads:
            if newer.tree_size >= older.tree_size:
                proof = proofs.consistency(older.tree_size, newer.tree_size)
                assert merkle.verify_consistency(
                    older.tree_size, newer.tree_size, bytes(older.root), bytes(newer.root), proof
                )


@pytest.mark.parametrize(
    "change",
    [
        update(AuditEntry).values(kind="consent.forged"),
        update(AuditLeaf).values(hash=bytes(32)),
        update(AuditTreeHead).values(root=bytes(32)),
        delete(AuditEntry),
        delete(AuditLeaf),
        delete(AuditTreeHead),
    ],
    ids=lambda change: f"{type(change).__name__} {change.table.name}",
)
def test_entries_and_the_tree_are_append_only(client, grant, change):
    _life_of_a_consent(client, grant)
    run_job_now("sequence-audit")
    with pytest.raises(DBAPIError, match="append-only"), db.session.begin_nested():
        db.session.execute(change)


def test_erasure_destroys_the_key_and_keeps_every_proof(client, grant):
    patient, _, token = _life_of_a_consent(client, grant)
    assert client.delete("/v1/me", headers=bearer(token)).status_code == 204
    run_job_now("sequence-audit")

    tombstone = db.session.get(AuditKey, patient.id)
    assert (tombstone.key, tombstone.destroyed_at is not None) == (None, True)
    [erased] = [entry for entry in _entries(patient.id) if entry.kind == "patient.erased"]
    assert (erased.kind, erased.actor_type, erased.subjects) == (
        "patient.erased",
        "patient",
        {"patient": str(patient.id)},
    )
    head = proofs.latest_head()
    for entry in _entries(patient.id):
        proof = proofs.inclusion(entry.id)
        assert merkle.verify_inclusion(
            as_entry(entry).leaf_hash(),
            proof.leaf_index,
            head.tree_size,
            proof.path,
            bytes(head.root),
        )
        with pytest.raises(entries.Unreadable):
            entries.open_sealed(entries.new_key(), entry.payload, entry_id=entry.id.bytes)


def test_a_proof_of_an_entry_not_in_the_tree_is_not_found(client, grant):
    patient, _, _ = grant()
    [entry] = _entries(patient.id)
    with pytest.raises(proofs.NotFound):
        proofs.inclusion(entry.id)
    with pytest.raises(proofs.NotFound):
        proofs.inclusion(uuid.uuid4())


def test_a_proof_reads_the_tree_in_two_queries_however_large(client, grant):
    for _ in range(5):
        _life_of_a_consent(client, grant)  # 20 entries: a path through leaves and subtrees
    run_job_now("sequence-audit")
    rows, _ = _in_tree_order()
    statements: list[str] = []

    def seen(conn, cursor, statement, *args) -> None:
        statements.append(statement)

    for row in (rows[0], rows[13], rows[-1]):
        db.session.expunge_all()  # nothing known before
        event.listen(db.engine, "before_cursor_execute", seen)
        try:
            proof = proofs.inclusion(row.id)
        finally:
            event.remove(db.engine, "before_cursor_execute", seen)
        assert (proof.tree_size, bool(proof.path)) == (20, True)
        assert len(statements) == 2, statements  # the leaf with its head; the path's hashes
        statements.clear()
