"""Roots and proofs against independent implementations: pymerkle 7 (RFC 6962/9162 mode: sha256
with the 0x00/0x01 prefixes, its default) and a direct transcription of the RFC 9162 recursive
definitions (MTH, PATH, SUBPROOF). Every size 1..300 exhaustively, then a sample up to 3000."""

import functools
import hashlib
import random

import pymerkle
import pytest

from dta.log.tree import MerkleTree, TreeError
from dtacore import merkle

EXHAUSTIVE = 300
SAMPLED = 3000


def rfc_model(leaves):
    """RFC 9162 section 2.1 definitions, recursive, memoised on (start, end)."""

    def k_of(n):
        k = 1
        while k << 1 < n:
            k <<= 1
        return k

    @functools.lru_cache(maxsize=None)
    def mth(a, b):
        n = b - a
        if n == 0:
            return hashlib.sha256(b"").digest()
        if n == 1:
            return hashlib.sha256(b"\x00" + leaves[a]).digest()
        k = k_of(n)
        return hashlib.sha256(b"\x01" + mth(a, a + k) + mth(a + k, b)).digest()

    def path(m, a, b):
        n = b - a
        if n == 1:
            return []
        k = k_of(n)
        if m < k:
            return path(m, a, a + k) + [mth(a + k, b)]
        return path(m - k, a + k, b) + [mth(a, a + k)]

    def subproof(m, a, b, whole):
        n = b - a
        if m == n:
            return [] if whole else [mth(a, b)]
        k = k_of(n)
        if m <= k:
            return subproof(m, a, a + k, whole) + [mth(a + k, b)]
        return subproof(m - k, a + k, b, False) + [mth(a, a + k)]

    return mth, path, subproof


@pytest.fixture(scope="module")
def trees():
    rnd = random.Random(9162)
    leaves = [rnd.randbytes(rnd.randrange(0, 64)) for _ in range(SAMPLED)]
    ours = MerkleTree()
    ref = pymerkle.InmemoryTree(algorithm="sha256")
    for d in leaves:
        ours.append_leaf_hash(merkle.hash_leaf(d))
        ref.append_entry(d)
    return leaves, ours, ref


def test_pymerkle_is_in_rfc_mode(trees):
    leaves, ours, ref = trees
    assert ref.security and ref.algorithm == "sha256"
    assert ref.get_leaf(1) == hashlib.sha256(b"\x00" + leaves[0]).digest()


def test_roots_every_size(trees):
    leaves, ours, ref = trees
    mth, _, _ = rfc_model(tuple(leaves[:EXHAUSTIVE]))
    assert ours.root(0) == merkle.empty_root() == mth(0, 0)
    for n in range(1, EXHAUSTIVE + 1):
        assert ours.root(n) == ref.get_root(n) == mth(0, n), n
    for n in random.Random(1).sample(range(EXHAUSTIVE + 1, SAMPLED + 1), 60) + [SAMPLED]:
        assert ours.root(n) == ref.get_root(n), n


def test_inclusion_every_index_every_size(trees):
    leaves, ours, ref = trees
    _, path, _ = rfc_model(tuple(leaves[:EXHAUSTIVE]))
    for n in range(1, EXHAUSTIVE + 1):
        root = ours.root(n)
        for i in range(n):
            proof = ours.inclusion_proof(index=i, size=n)
            assert proof == path(i, 0, n)
            merkle.verify_inclusion(merkle.hash_leaf(leaves[i]), proof, root, index=i, size=n)
        for i in range(0, n, 7):  # pymerkle is slower: every 7th index
            assert ref.prove_inclusion(i + 1, n).path[1:] == ours.inclusion_proof(index=i, size=n)


def test_inclusion_sampled_large(trees):
    leaves, ours, ref = trees
    rnd = random.Random(2)
    for _ in range(600):
        n = rnd.randrange(EXHAUSTIVE, SAMPLED + 1)
        i = rnd.randrange(n)
        proof = ours.inclusion_proof(index=i, size=n)
        assert ref.prove_inclusion(i + 1, n).path[1:] == proof
        leaf = merkle.hash_leaf(leaves[i])
        merkle.verify_inclusion(leaf, proof, ours.root(n), index=i, size=n)


def test_consistency_every_pair(trees):
    leaves, ours, ref = trees
    _, _, subproof = rfc_model(tuple(leaves[:EXHAUSTIVE]))
    for n in range(1, EXHAUSTIVE + 1):
        root2 = ours.root(n)
        for m in range(1, n + 1):
            proof = ours.consistency_proof(size1=m, size2=n)
            if 0 < m < n:
                assert proof == subproof(m, 0, n, True), (m, n)
            merkle.verify_consistency(ours.root(m), root2, proof, size1=m, size2=n)


def test_consistency_agrees_with_pymerkle(trees):
    # pymerkle's consistency proofs have their own layout; both must accept the same states.
    leaves, ours, ref = trees
    rnd = random.Random(3)
    pairs = [(m, n) for n in range(1, 80) for m in range(1, n + 1)]
    pairs += [tuple(sorted(rnd.sample(range(1, SAMPLED + 1), 2))) for _ in range(400)]
    for m, n in pairs:
        pymerkle.verify_consistency(ours.root(m), ours.root(n), ref.prove_consistency(m, n))
        proof = ours.consistency_proof(size1=m, size2=n)
        merkle.verify_consistency(ours.root(m), ours.root(n), proof, size1=m, size2=n)


def test_consistency_sampled_large(trees):
    leaves, ours, ref = trees
    rnd = random.Random(4)
    mth, _, subproof = rfc_model(tuple(leaves))
    for _ in range(400):
        n = rnd.randrange(EXHAUSTIVE, SAMPLED + 1)
        m = rnd.randrange(1, n + 1)
        proof = ours.consistency_proof(size1=m, size2=n)
        assert proof == (subproof(m, 0, n, True) if m < n else [])
        merkle.verify_consistency(ours.root(m), ours.root(n), proof, size1=m, size2=n)


def test_guards():
    t = MerkleTree()
    for i in range(5):
        t.append_leaf_hash(merkle.hash_leaf(bytes([i])))
    with pytest.raises(TreeError):
        t.inclusion_proof(index=5, size=5)
    with pytest.raises(TreeError):
        t.inclusion_proof(index=0, size=6)
    with pytest.raises(TreeError):
        t.consistency_proof(size1=4, size2=3)
    with pytest.raises(TreeError):  # RFC 9162 defines no proof from the empty tree
        t.consistency_proof(size1=0, size2=5)
    with pytest.raises(merkle.ProofShapeError):
        merkle.verify_inclusion(merkle.hash_leaf(b"x"), [], t.root(), index=0, size=0)
    with pytest.raises(merkle.ProofShapeError):
        merkle.verify_consistency(t.root(3), t.root(2), [], size1=3, size2=2)
    with pytest.raises(merkle.ProofShapeError):
        merkle.verify_consistency(t.root(2), t.root(5), [], size1=2, size2=5)
    with pytest.raises(merkle.RootMismatchError):
        merkle.verify_consistency(t.root(5), t.root(4), [], size1=5, size2=5)
    with pytest.raises(merkle.ProofShapeError):
        merkle.verify_consistency(t.root(5), t.root(5), [t.root(1)], size1=5, size2=5)
    # RFC 9162 gives no proof from the empty tree: refused whatever root1 claims to be
    for root1 in (merkle.empty_root(), t.root(3), bytes(32)):
        with pytest.raises(merkle.ProofShapeError, match="empty tree"):
            merkle.verify_consistency(root1, t.root(5), [], size1=0, size2=5)


def test_append_and_proof_cost_is_logarithmic():
    # Structural cost, not timing: nodes written per append (hash computations) and nodes read
    # per proof stay within log2(n) + 1, and appends average under 2 nodes.
    t = MerkleTree()
    written = 0
    for i in range(1, 4097):
        new = t.append_leaf_hash(merkle.hash_leaf(i.to_bytes(4, "big")))
        assert len(new) <= i.bit_length() + 1
        written += len(new)
    assert written < 2 * 4096
    for n in (1000, 4096):
        for i in range(0, n, 37):
            assert len(t.inclusion_proof(index=i, size=n)) <= (n - 1).bit_length()
        for m in range(1, n, 41):
            assert len(t.consistency_proof(size1=m, size2=n)) <= 2 * (n - 1).bit_length()
