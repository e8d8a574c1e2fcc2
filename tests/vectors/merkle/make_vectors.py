"""Regenerate the Merkle proof and checkpoint vectors in this directory (deterministic).

    .venv/bin/python tests/vectors/merkle/make_vectors.py

Layout: <kind>/<case>/<mutation>.json, each mutation named by the change it makes to a valid
proof ("valid" is the unchanged one). "error" is the dtacore error class the bytes must raise on
CPython and on the device, or null. Leaf data: SHA-256(b"leaf" || index u64), so any RFC 9162
implementation can rebuild the trees.
"""

import hashlib
import json
import shutil
import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parents[2] / "firmware"), str(HERE.parents[2] / "host")]

from dta.log.tree import MerkleTree  # noqa: E402
from dtacore import backend, merkle, note  # noqa: E402
from dtacore.errors import ProtocolError  # noqa: E402

# A fixed test key (never used for anything else): secret = SHA-256("dta log vector key").
VECTOR_SECRET = hashlib.sha256(b"dta log vector key").digest()
ORIGIN = "example.org/dta/log"


def leaf_data(i):
    return hashlib.sha256(b"leaf" + struct.pack(">Q", i)).digest()


def build(n):
    t = MerkleTree()
    for i in range(n):
        t.append_leaf_hash(merkle.hash_leaf(leaf_data(i)))
    return t


def flip(b, bit):
    b = bytearray(b)
    b[bit // 8] ^= 1 << (bit % 8)
    return bytes(b)


def error_of(fn):
    try:
        fn()
    except ProtocolError as exc:
        return type(exc).__name__
    return None


def check_inclusion(v):
    leaf = merkle.hash_leaf(bytes.fromhex(v["leaf"]))
    return merkle.verify_inclusion_bytes(leaf, bytes.fromhex(v["proof"]), bytes.fromhex(v["root"]))


def check_consistency(v):
    return merkle.verify_consistency_bytes(bytes.fromhex(v["proof"]), bytes.fromhex(v["root1"]),
                                           bytes.fromhex(v["root2"]))


def check_checkpoint(v):
    from dta.signing import verify as verify_digest
    return note.verify_checkpoint(v["note"], v["key_name"], bytes.fromhex(v["pubkey"]),
                                  verify_digest)


CHECKS = {"inclusion": check_inclusion, "consistency": check_consistency,
          "checkpoint": check_checkpoint}


def write(kind, case, mutation, v):
    v = dict(v, kind=kind)
    v["error"] = error_of(lambda: CHECKS[kind](v))
    d = HERE / kind / case
    d.mkdir(parents=True, exist_ok=True)
    (d / (mutation + ".json")).write_text(json.dumps(v, indent=1, sort_keys=True) + "\n")


def inclusion_cases(t, size, index):
    case = "size-%d-index-%d" % (size, index)
    path = t.inclusion_proof(index=index, size=size)

    def enc(p, s=size, i=index):
        return merkle.encode_inclusion(index=i, size=s, path=p).hex()
    base = {"leaf": leaf_data(index).hex(), "root": t.root(size).hex(), "proof": enc(path)}
    write("inclusion", case, "valid", base)
    write("inclusion", case, "wrong-leaf", dict(base, leaf=leaf_data(index + 1).hex()))
    write("inclusion", case, "wrong-index", dict(base, proof=enc(path, i=index ^ 1)))
    write("inclusion", case, "index-ge-size", dict(base, proof=enc(path, i=size)))
    if path:
        write("inclusion", case, "truncated-proof", dict(base, proof=enc(path[:-1])))
        write("inclusion", case, "truncated-bytes", dict(base, proof=enc(path)[:-2]))
    write("inclusion", case, "extra-hash", dict(base, proof=enc(path + [bytes(32)])))
    write("inclusion", case, "trailing-garbage", dict(base, proof=enc(path) + "00"))
    for k in range(len(path)):
        p = list(path)
        p[k] = flip(p[k], 3 + 8 * k)
        write("inclusion", case, "bit-flip-in-hash-%d" % k, dict(base, proof=enc(p)))


def consistency_cases(t, size1, size2):
    case = "size1-%d-size2-%d" % (size1, size2)
    path = t.consistency_proof(size1=size1, size2=size2)

    def enc(p, a=size1, b=size2):
        return merkle.encode_consistency(size1=a, size2=b, path=p).hex()
    base = {"root1": t.root(size1).hex(), "root2": t.root(size2).hex(), "proof": enc(path)}
    write("consistency", case, "valid", base)
    write("consistency", case, "wrong-root1", dict(base, root1=t.root(size1 - 1).hex()))
    write("consistency", case, "wrong-root2", dict(base, root2=t.root(size2 + 1).hex()))
    write("consistency", case, "size1-gt-size2",
          dict(base, proof=enc(path, a=size2 + 1, b=size2)))
    if path:
        write("consistency", case, "truncated-proof", dict(base, proof=enc(path[:-1])))
    write("consistency", case, "extra-hash", dict(base, proof=enc(path + [bytes(32)])))
    write("consistency", case, "trailing-garbage", dict(base, proof=enc(path) + "00"))
    for k in range(len(path)):
        p = list(path)
        p[k] = flip(p[k], 5 + 8 * k)
        write("consistency", case, "bit-flip-in-hash-%d" % k, dict(base, proof=enc(p)))


class DeterministicSigner:
    # RFC 6979 without extra entropy, so that regenerating gives the same bytes.
    def __init__(self, secret):
        self.secret, self.public_key = secret, backend.pubkey(secret)

    def sign_digest(self, digest):
        return backend.sign(self.secret, digest)


def from_empty_tree_cases(t, size2):
    # RFC 9162 defines no consistency proof from the empty tree: refused, whatever root1 says.
    case = "size1-0-size2-%d" % size2
    enc = merkle.encode_consistency(size1=0, size2=size2, path=[]).hex()
    base = {"root1": merkle.empty_root().hex(), "root2": t.root(size2).hex(), "proof": enc}
    write("consistency", case, "from-empty-tree", base)
    write("consistency", case, "from-empty-tree-any-root1", dict(base, root1=t.root(3).hex()))


def checkpoint_cases(t):
    signer = DeterministicSigner(VECTOR_SECRET)
    other = DeterministicSigner(hashlib.sha256(b"another key").digest())
    size = 13
    text = note.sign_checkpoint(ORIGIN, size, t.root(size), ORIGIN, signer.public_key,
                                signer.sign_digest)
    base = {"note": text, "key_name": ORIGIN, "pubkey": signer.public_key.hex()}
    write("checkpoint", "size-13", "valid", base)
    forged = note.sign_checkpoint(ORIGIN, size, t.root(size), ORIGIN, signer.public_key,
                                  other.sign_digest)
    write("checkpoint", "size-13", "wrong-checkpoint-signature", dict(base, note=forged))
    write("checkpoint", "size-13", "wrong-key", dict(base, pubkey=other.public_key.hex()))
    body, sig = text.split("\n\n")
    write("checkpoint", "size-13", "wrong-size",
          dict(base, note=body.replace("\n13\n", "\n14\n") + "\n\n" + sig))
    write("checkpoint", "size-13", "trailing-garbage", dict(base, note=text + "x"))
    write("checkpoint", "size-13", "no-signature", dict(base, note=body + "\n"))


def main():
    for kind in CHECKS:
        shutil.rmtree(HERE / kind, ignore_errors=True)
    t = build(40)
    for size, index in ((1, 0), (7, 4), (13, 5), (16, 15), (33, 32)):
        inclusion_cases(t, size, index)
    for size1, size2 in ((3, 7), (4, 8), (6, 13), (13, 32)):
        consistency_cases(t, size1, size2)
    from_empty_tree_cases(t, 7)
    checkpoint_cases(t)


if __name__ == "__main__":
    main()
