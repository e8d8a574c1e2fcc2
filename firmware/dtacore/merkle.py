# RFC 9162 (Certificate Transparency v2) Merkle tree hashing and proof verification.
#
# Shared by the device (MicroPython) and the host (CPython). Verification follows RFC 9162
# sections 2.1.3.2 and 2.1.4.2 literally: recompute the root(s) from the proof, then compare.
# Input guards come first; a malformed proof is a ProofShapeError, a proof that recomputes to a
# different root is a RootMismatchError carrying both roots (expected=claimed, got=recomputed).
#
# Binary proof encoding (big-endian), one definition for host and device:
#   inclusion:   0x01 | tree_size u64 | leaf_index u64 | count u8 | count * 32-byte hash
#   consistency: 0x02 | size1 u64     | size2 u64      | count u8 | count * 32-byte hash
# In the API, a leaf's position is always (index, size) and two tree sizes (size1, size2), both
# keyword-only wherever two of them meet, and decoded proofs are namedtuples with those names.
#
# A consistency proof is defined (RFC 9162 2.1.4) for 0 < size1 <= size2: there is no proof
# from the empty tree, and verify_consistency refuses size1 = 0 (every tree extends the empty
# one, so such a "proof" would say nothing about root1).

import hashlib
import struct
from collections import namedtuple

from dtacore.errors import DecodeError, EncodeError, VerifyError

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"

PROOF_INCLUSION = 1
PROOF_CONSISTENCY = 2
# Sizes are u64 on the wire but SQLite and the host store cap them at 2^63 - 1: a tree that big
# has height 63, so no inclusion proof has more than 63 hashes and no consistency proof more than
# 64 (the size1 subtree root plus a path). Anything longer is not a proof of this log.
MAX_PROOF_HASHES = 64
MAX_TREE_SIZE = (1 << 63) - 1
_HEADER = ">BQQB"
_HEADER_SIZE = 18

InclusionProof = namedtuple("InclusionProof", ("index", "size", "path"))
ConsistencyProof = namedtuple("ConsistencyProof", ("size1", "size2", "path"))


class ProofShapeError(VerifyError):
    # The proof cannot belong to the claimed position: index >= size, size1 > size2, a path that
    # is too long or too short for the (index, size) or (size1, size2) it claims.
    pass


class RootMismatchError(VerifyError):
    # The proof is well formed but recomputes to a root other than the one claimed.
    pass


def hash_leaf(data):
    h = hashlib.sha256(LEAF_PREFIX)
    h.update(data)
    return h.digest()


def hash_children(left, right):
    h = hashlib.sha256(NODE_PREFIX)
    h.update(left)
    h.update(right)
    return h.digest()


def empty_root():
    return hashlib.sha256(b"").digest()


def _check_hash(name, value):
    if not isinstance(value, (bytes, bytearray)) or len(value) != HASH_SIZE:
        raise DecodeError(name + " must be a 32-byte hash")


def _check_path(path):
    if len(path) > MAX_PROOF_HASHES:
        raise ProofShapeError("proof longer than MAX_PROOF_HASHES")
    for p in path:
        _check_hash("proof hash", p)


def root_from_inclusion_proof(leaf_hash, path, *, index, size):
    # RFC 9162 2.1.3.2 steps 1-5, returning the recomputed root.
    if size < 1 or size > MAX_TREE_SIZE or index < 0:
        raise ProofShapeError("tree size out of range")
    if index >= size:
        raise ProofShapeError("leaf index >= tree size", expected=size, got=index)
    _check_hash("leaf hash", leaf_hash)
    _check_path(path)
    fn = index
    sn = size - 1
    r = leaf_hash
    for p in path:
        if sn == 0:
            raise ProofShapeError("inclusion proof too long")
        if fn & 1 or fn == sn:
            r = hash_children(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = hash_children(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofShapeError("inclusion proof too short")
    return r


def verify_inclusion(leaf_hash, path, root, *, index, size):
    _check_hash("root", root)
    got = root_from_inclusion_proof(leaf_hash, path, index=index, size=size)
    if got != root:
        raise RootMismatchError("inclusion proof does not match root", expected=root, got=got)
    return True


def roots_from_consistency_proof(root1, path, *, size1, size2):
    # RFC 9162 2.1.4.2; returns (recomputed root1, recomputed root2). Callers handle
    # size1 == size2 before calling and refuse size1 == 0 (see verify_consistency).
    fn = size1 - 1
    sn = size2 - 1
    if size1 & (size1 - 1) == 0:
        path = [root1] + list(path)
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = path[0]
    sr = path[0]
    first = True
    for c in path:
        if first:
            first = False
            continue
        if sn == 0:
            raise ProofShapeError("consistency proof too long")
        if fn & 1 or fn == sn:
            fr = hash_children(c, fr)
            sr = hash_children(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = hash_children(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofShapeError("consistency proof too short")
    return fr, sr


def verify_consistency(root1, root2, path, *, size1, size2):
    if size1 < 0 or size2 < 0 or size2 > MAX_TREE_SIZE:
        raise ProofShapeError("tree size out of range")
    if size1 == 0:
        raise ProofShapeError("no consistency proof from the empty tree (RFC 9162 2.1.4)")
    if size1 > size2:
        raise ProofShapeError("size1 > size2", expected=size2, got=size1)
    _check_hash("root1", root1)
    _check_hash("root2", root2)
    _check_path(path)
    if size1 == size2:
        if len(path):
            raise ProofShapeError("consistency proof must be empty")
        if root1 != root2:
            raise RootMismatchError("equal sizes, different roots", expected=root1, got=root2)
        return True
    if not len(path):
        raise ProofShapeError("consistency proof is empty")
    fr, sr = roots_from_consistency_proof(root1, path, size1=size1, size2=size2)
    if fr != root1:
        raise RootMismatchError("consistency proof does not match root1", expected=root1, got=fr)
    if sr != root2:
        raise RootMismatchError("consistency proof does not match root2", expected=root2, got=sr)
    return True


def _size_ok(n):
    return type(n) is int and 0 <= n <= MAX_TREE_SIZE


def _encode(kind, a, b, path):
    if not isinstance(path, (list, tuple)) or len(path) > MAX_PROOF_HASHES:
        raise EncodeError("proof must be a list of at most MAX_PROOF_HASHES hashes")
    if not _size_ok(a) or not _size_ok(b):
        raise EncodeError("tree size or index is not an integer in 0..MAX_TREE_SIZE")
    out = bytearray(_HEADER_SIZE + HASH_SIZE * len(path))
    struct.pack_into(_HEADER, out, 0, kind, a, b, len(path))
    pos = _HEADER_SIZE
    for p in path:
        if not isinstance(p, (bytes, bytearray)) or len(p) != HASH_SIZE:
            raise EncodeError("proof hashes are 32 bytes")
        out[pos:pos + HASH_SIZE] = p
        pos += HASH_SIZE
    return bytes(out)


def encode_inclusion(*, index, size, path):
    return _encode(PROOF_INCLUSION, size, index, path)


def encode_consistency(*, size1, size2, path):
    return _encode(PROOF_CONSISTENCY, size1, size2, path)


def _decode(data, kind):
    # Strict: exact length, known kind, count within MAX_PROOF_HASHES. Returns (a, b, path).
    if len(data) < _HEADER_SIZE:
        raise DecodeError("proof truncated")
    got_kind, a, b, n = struct.unpack_from(_HEADER, data, 0)
    if got_kind != kind:
        raise DecodeError("unexpected proof kind")
    if n > MAX_PROOF_HASHES:
        raise DecodeError("proof hash count over MAX_PROOF_HASHES")
    want = _HEADER_SIZE + HASH_SIZE * n
    if len(data) < want:
        raise DecodeError("proof truncated")
    if len(data) > want:
        raise DecodeError("trailing bytes after proof")
    if a > MAX_TREE_SIZE or b > MAX_TREE_SIZE:
        raise DecodeError("tree size over MAX_TREE_SIZE")
    mv = memoryview(data)
    path = []
    pos = _HEADER_SIZE
    for _ in range(n):
        path.append(bytes(mv[pos:pos + HASH_SIZE]))
        pos += HASH_SIZE
    return a, b, path


def decode_inclusion(data):
    size, index, path = _decode(data, PROOF_INCLUSION)
    return InclusionProof(index, size, path)


def decode_consistency(data):
    size1, size2, path = _decode(data, PROOF_CONSISTENCY)
    return ConsistencyProof(size1, size2, path)


def verify_inclusion_bytes(leaf_hash, proof, root):
    # proof: encoded inclusion proof. Returns the InclusionProof once verified.
    p = decode_inclusion(proof)
    verify_inclusion(leaf_hash, p.path, root, index=p.index, size=p.size)
    return p


def verify_consistency_bytes(proof, root1, root2):
    p = decode_consistency(proof)
    verify_consistency(root1, root2, p.path, size1=p.size1, size2=p.size2)
    return p
