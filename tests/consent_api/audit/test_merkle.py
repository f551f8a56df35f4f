"""RFC 9162 hashing and proofs: Certificate Transparency's published vectors, and every
proof for every leaf and pair of sizes of small trees, verified, and refused once altered."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent_api.audit import merkle
from consent_api.audit.merkle import MemoryTree

# The inputs of CT's test leaves d0..d7 (RFC 6962's reference data) and the roots of their
# first 1..8 (as Trillian and certificate-transparency publish them).
INPUTS = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
PATH_0_OF_8 = [
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
]
PATH_5_OF_8 = [
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
]


def _tree(count: int) -> MemoryTree:
    return MemoryTree([merkle.leaf_hash(bytes.fromhex(data)) for data in INPUTS[:count]])


def _leaves(count: int) -> list[bytes]:
    return [merkle.leaf_hash(index.to_bytes(4, "big")) for index in range(count)]


def _flip(value: bytes) -> bytes:
    return bytes([value[0] ^ 1]) + value[1:]


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_match_certificate_transparencys_vectors(size):
    tree = _tree(size)
    assert merkle.root(tree.perfect, size).hex() == ROOTS[size - 1]


def test_the_empty_tree_is_the_hash_of_nothing():
    assert merkle.root(MemoryTree([]).perfect, 0) == hashlib.sha256(b"").digest()


@pytest.mark.parametrize(("index", "path"), [(0, PATH_0_OF_8), (5, PATH_5_OF_8)])
def test_audit_paths_match_the_published_ones(index, path):
    tree = _tree(8)
    assert [h.hex() for h in merkle.inclusion_proof(tree.perfect, index, 8)] == path


@pytest.mark.parametrize("size", range(1, 34))
def test_every_leaf_of_every_small_tree_proves_its_inclusion(size):
    leaves = _leaves(size)
    tree = MemoryTree(leaves)
    root = merkle.root(tree.perfect, size)
    for index, leaf in enumerate(leaves):
        path = merkle.inclusion_proof(tree.perfect, index, size)
        assert merkle.verify_inclusion(leaf, index, size, path, root)
        # Another leaf, another index, an altered step or a missing one: refused.
        assert not merkle.verify_inclusion(_flip(leaf), index, size, path, root)
        if size > 1:
            assert not merkle.verify_inclusion(leaf, (index + 1) % size, size, path, root)
        for step in range(len(path)):
            altered = [*path[:step], _flip(path[step]), *path[step + 1 :]]
            assert not merkle.verify_inclusion(leaf, index, size, altered, root)
        if path:
            assert not merkle.verify_inclusion(leaf, index, size, path[:-1], root)


@pytest.mark.parametrize("second", range(1, 34))
def test_every_smaller_tree_is_proved_a_prefix_of_every_larger(second):
    tree = MemoryTree(_leaves(second))
    second_root = merkle.root(tree.perfect, second)
    for first in range(1, second + 1):
        first_root = merkle.root(tree.perfect, first)
        proof = merkle.consistency_proof(tree.perfect, first, second)
        assert merkle.verify_consistency(first, second, first_root, second_root, proof)
        assert not merkle.verify_consistency(first, second, _flip(first_root), second_root, proof)
        assert not merkle.verify_consistency(first, second, first_root, _flip(second_root), proof)
        for step in range(len(proof)):
            altered = [*proof[:step], _flip(proof[step]), *proof[step + 1 :]]
            assert not merkle.verify_consistency(first, second, first_root, second_root, altered)


def test_a_rewritten_history_is_not_consistent():
    honest, forged = _leaves(12), _leaves(12)
    forged[3] = merkle.leaf_hash(b"rewritten")
    old = MemoryTree(honest)
    new = MemoryTree(forged)
    proof = merkle.consistency_proof(new.perfect, 7, 12)
    assert not merkle.verify_consistency(
        7, 12, merkle.root(old.perfect, 7), merkle.root(new.perfect, 12), proof
    )


@given(st.integers(1, 300), st.data())
def test_proofs_hold_for_any_tree(size, data):
    tree = MemoryTree(_leaves(size))
    root = merkle.root(tree.perfect, size)
    index = data.draw(st.integers(0, size - 1))
    path = merkle.inclusion_proof(tree.perfect, index, size)
    assert len(path) <= size.bit_length()
    assert merkle.verify_inclusion(_leaves(size)[index], index, size, path, root)
    first = data.draw(st.integers(1, size))
    proof = merkle.consistency_proof(tree.perfect, first, size)
    assert merkle.verify_consistency(first, size, merkle.root(tree.perfect, first), root, proof)


@pytest.mark.parametrize(("index", "size"), [(-1, 4), (4, 4), (0, 0)])
def test_a_proof_for_a_leaf_the_tree_lacks_is_an_error(index, size):
    with pytest.raises(merkle.ProofError):
        merkle.inclusion_proof(MemoryTree(_leaves(4)).perfect, index, size)


@pytest.mark.parametrize(("first", "second"), [(0, 4), (5, 4), (-1, 2)])
def test_a_consistency_proof_between_impossible_sizes_is_an_error(first, second):
    with pytest.raises(merkle.ProofError):
        merkle.consistency_proof(MemoryTree(_leaves(4)).perfect, first, second)
