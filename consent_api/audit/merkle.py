"""Merkle tree hashing and proofs as RFC 9162 (Certificate Transparency 2.0) defines them.

Leaves and inner nodes are hashed apart, with a one-byte prefix, so that no leaf can pass
for a node: leaf = SHA-256(0x00 || data), node = SHA-256(0x01 || left || right). A tree of
n leaves splits at the largest power of two below n (§2.1.1), so every tree is made of
perfect subtrees (2^h leaves each, aligned to their size), whatever n is.

Proofs never need the leaves themselves, only the hashes of perfect subtrees: `Hashes` is
whatever can give them (a list in memory here and in tests; stored subtree hashes for the
log itself), so proving stays O(log n) reads however long the log grows. The verifiers need
nothing but hashes, for anyone to run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

LEAF, NODE = b"\x00", b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()  # the root of a tree of no leaves (§2.1.1)

# The hash of the perfect subtree of 2^height leaves starting at leaf index * 2^height.
Hashes = Callable[[int, int], bytes]


class ProofError(ValueError):
    """A proof asked for sizes or an index the tree does not have."""


def leaf_hash(data: bytes) -> bytes:
    """The hash of one leaf's data."""
    return hashlib.sha256(LEAF + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an inner node over its two children."""
    return hashlib.sha256(NODE + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def range_hash(perfect: Hashes, start: int, end: int) -> bytes:
    """MTH of the leaves [start, end) of a tree, when start is where a subtree of the tree
    begins (as every range a proof asks for is): from at most log2(end - start) perfect
    subtree hashes."""
    size = end - start
    if size == 0:
        return EMPTY_ROOT
    if size & (size - 1) == 0:  # a perfect subtree
        height = size.bit_length() - 1
        return perfect(height, start >> height)
    k = _split(size)
    return node_hash(range_hash(perfect, start, start + k), range_hash(perfect, start + k, end))


def root(perfect: Hashes, size: int) -> bytes:
    """The root hash of the tree's first `size` leaves."""
    return range_hash(perfect, 0, size)


def inclusion_proof(perfect: Hashes, index: int, size: int) -> list[bytes]:
    """The audit path of leaf `index` in the tree of `size` leaves (§2.1.3.1)."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of {size}")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            path.append(range_hash(perfect, start + k, end))
            end = start + k
        else:
            path.append(range_hash(perfect, start, start + k))
            start += k
    return path[::-1]  # from the leaf up


def consistency_proof(perfect: Hashes, first: int, second: int) -> list[bytes]:
    """The proof that the tree of `first` leaves is a prefix of the tree of `second`
    (§2.1.4.1); empty when the sizes are equal."""
    if not 0 < first <= second:
        raise ProofError(f"no consistency proof from {first} to {second}")
    proof: list[bytes] = []

    def subproof(m: int, start: int, end: int, whole: bool) -> None:
        n = end - start
        if m == n:
            if not whole:
                proof.append(range_hash(perfect, start, end))
            return
        k = _split(n)
        if m <= k:
            subproof(m, start, start + k, whole)
            proof.append(range_hash(perfect, start + k, end))
        else:
            subproof(m - k, start + k, end, False)
            proof.append(range_hash(perfect, start, start + k))

    subproof(first, 0, second, True)
    return proof


def verify_inclusion(
    leaf: bytes, index: int, size: int, path: Sequence[bytes], expected_root: bytes
) -> bool:
    """Whether `path` proves the leaf hash at `index` is in the tree of `size` leaves whose
    root is `expected_root` (§2.1.3.2)."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected_root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether `proof` shows the tree of `first` leaves (root `first_root`) is a prefix of
    the tree of `second` leaves (root `second_root`) (§2.1.4.2)."""
    if not 0 < first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # an exact power of two: the old root starts the path
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


class MemoryTree:
    """A tree of leaf hashes held in memory, each perfect subtree's hash worked out once (the
    export's verifier, and the tests)."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self._levels: list[list[bytes]] = [list(leaves)]
        while len(self._levels[-1]) > 1:
            below = self._levels[-1]
            self._levels.append(
                [node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
            )

    @property
    def size(self) -> int:
        return len(self._levels[0])

    def perfect(self, height: int, index: int) -> bytes:
        """The hash of the perfect subtree of 2^height leaves at position `index`."""
        if height >= len(self._levels) or index >= len(self._levels[height]):
            raise ProofError(f"no complete subtree {index} at height {height}")
        return self._levels[height][index]
