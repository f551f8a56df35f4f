"""An audit entry's leaf: canonical (RFC 8785), committing to its payload without showing
it; the payload sealed under the patient's key, so erasure (the key destroyed) leaves every
leaf and proof verifiable and the content unreadable."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from consent_api.audit import entries, merkle
from consent_api.audit.entries import Entry

PAYLOAD = {"state": "revoked", "reason": "I changed my mind", "purposes": ["HRESCH"]}


def _entry(commitment: bytes) -> Entry:
    return Entry(
        kind="consent.revoked",
        actor_type="patient",
        actor_id="7c1f0000-0000-4000-8000-000000000001",
        subjects={"patient": "7c1f0000-0000-4000-8000-000000000001", "consent": "c-1"},
        occurred_at=datetime(2026, 11, 30, 12, 0, 0, 5, tzinfo=UTC),
        payload_commitment=commitment,
    )


def test_canonical_json_is_one_byte_string_for_one_value():
    assert entries.canonical({"b": 1.0, "a": ["é", 2]}) == '{"a":["é",2],"b":1}'.encode()
    assert entries.canonical({"a": 1, "b": 2}) == entries.canonical({"b": 2, "a": 1})


def test_a_leaf_commits_to_every_field_and_shows_no_payload():
    key = entries.new_key()
    sealed = entries.seal(key, PAYLOAD, entry_id=b"e1")
    entry = _entry(sealed.commitment)
    data = entry.leaf_data()
    assert b"changed my mind" not in data
    assert b"HRESCH" not in data
    assert entry.leaf_hash() == merkle.leaf_hash(data)
    for changed in (
        replace(entry, kind="consent.granted"),
        replace(entry, actor_type="operator"),
        replace(entry, actor_id=None),
        replace(entry, subjects={**entry.subjects, "consent": "c-2"}),
        replace(entry, occurred_at=entry.occurred_at + timedelta(microseconds=1)),
        replace(entry, payload_commitment=hashlib.sha256(b"other").digest()),
    ):
        assert changed.leaf_hash() != entry.leaf_hash()


def test_the_same_moment_in_another_zone_is_the_same_leaf():
    entry = _entry(b"\x00" * 32)
    elsewhere = entry.occurred_at.astimezone(timezone(timedelta(hours=5, minutes=30)))
    assert replace(entry, occurred_at=elsewhere).leaf_data() == entry.leaf_data()


def test_a_sealed_payload_opens_with_its_key_and_matches_its_commitment():
    key = entries.new_key()
    entry_id = uuid.uuid4().bytes
    sealed = entries.seal(key, PAYLOAD, entry_id=entry_id)
    opened = entries.open_sealed(key, sealed.sealed, entry_id=entry_id)
    assert opened.payload == PAYLOAD
    assert opened.matches(sealed.commitment)
    assert not entries.Opened(opened.salt, {**PAYLOAD, "state": "active"}).matches(
        sealed.commitment
    )
    # Two entries with the same payload commit differently (their own salts).
    assert entries.seal(key, PAYLOAD, entry_id=entry_id).commitment != sealed.commitment


@pytest.mark.parametrize("tamper", ["other_key", "other_entry", "altered"])
def test_a_sealed_payload_does_not_open_otherwise(tamper):
    key, entry_id = entries.new_key(), b"entry-1"
    sealed = entries.seal(key, PAYLOAD, entry_id=entry_id).sealed
    if tamper == "other_key":
        key = entries.new_key()
    elif tamper == "other_entry":
        entry_id = b"entry-2"
    else:
        sealed = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(entries.Unreadable):
        entries.open_sealed(key, sealed, entry_id=entry_id)


def test_erasure_keeps_the_tree_verifiable():
    """Three entries in a tree; the patient's key is destroyed: the payload is gone, yet
    each leaf, rebuilt from what is stored (its fields and commitment), proves inclusion in
    the same root."""
    key = entries.new_key()
    stored = []
    for number in range(3):
        sealed = entries.seal(key, {**PAYLOAD, "n": number}, entry_id=bytes([number]))
        stored.append((_entry(sealed.commitment), sealed.sealed))
    tree = merkle.MemoryTree([entry.leaf_hash() for entry, _ in stored])
    root = merkle.root(tree.perfect, 3)
    key = None  # erased
    for index, (entry, sealed) in enumerate(stored):
        path = merkle.inclusion_proof(tree.perfect, index, 3)
        assert merkle.verify_inclusion(entry.leaf_hash(), index, 3, path, root)
        with pytest.raises(entries.Unreadable):
            entries.open_sealed(entries.new_key(), sealed, entry_id=bytes([index]))
    assert key is None


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(_JSON)
def test_canonical_json_is_rfc8785s_whichever_way_it_is_written(value):
    assert entries.canonical(value) == rfc8785.dumps(value)


@pytest.mark.parametrize(
    "value",
    [
        {"\U0001f600": 1, "\uffff": 2},  # sorted by UTF-16 code units, not code points
        {"a": [1.0, 1e21, -0.0]},  # floats in the RFC's own form
        {"control": "\x00\x1f\x7f\u2028", "quote": '"\\'},
    ],
)
def test_canonical_json_where_the_two_ways_could_differ(value):
    assert entries.canonical(value) == rfc8785.dumps(value)
