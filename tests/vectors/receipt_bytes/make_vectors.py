"""Regenerate tests/vectors/receipt_bytes/:

    .venv/bin/python tests/vectors/receipt_bytes/make_vectors.py

Three binary receipts (dtacore.receipt_bytes): pending, anchored, and anchored through a
consistency link to a later checkpoint. The log is five entries (a ShareIssued entry with the
salt, time and keys of docs/log.md's vectors at index 0, then device events), its checkpoints
signed by SHA-256("dta log vector key") with plain RFC 6979 (no extra entropy), so the bytes are
reproducible. The anchoring fields (transaction, txout proof, headers) are fixed byte patterns:
these vectors pin the encoding; tests/integration/test_issuance_federation.py checks real
anchored receipts from a regtest node end to end.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from dta.log.tree import MerkleTree
from dtacore import backend, entries, merkle, note
from dtacore import receipt_bytes as rb

HERE = Path(__file__).resolve().parent
KEY = hashlib.sha256(b"dta log vector key").digest()
PUB = backend.pubkey(KEY)
ORIGIN = "example.org/dta/log"
SALT = bytes(range(16))
TIME_MS = 1764000000000


def log_entries() -> list[bytes]:
    share = entries.ShareIssued(bytes.fromhex("3f2a1b0c4d5e6f70"), 7, b"\x02" + b"\x11" * 32,
                                TIME_MS, SALT).encode()
    events = [entries.DeviceEvent(b"\x02" + b"\x11" * 32, i, 2, b"boot", b"\x33" * 64,
                                  TIME_MS + i).encode() for i in range(1, 5)]
    return [share] + events


def signed(size: int, root: bytes) -> str:
    return note.sign_checkpoint(ORIGIN, size, root, ORIGIN, PUB,
                                lambda d: backend.sign(KEY, d, None))


def build() -> dict[str, rb.Receipt]:
    data = log_entries()
    tree = MerkleTree()
    for d in data:
        tree.append_leaf_hash(merkle.hash_leaf(d))
    proof = merkle.encode_inclusion(index=0, size=3, path=tree.inclusion_proof(index=0, size=3))
    cp3 = signed(3, tree.root(3))
    cp5 = signed(5, tree.root(5))
    consistency = merkle.encode_consistency(size1=3, size2=5,
                                            path=tree.consistency_proof(size1=3, size2=5))
    headers = bytes(range(80)) + bytes(range(80, 160))
    tx, txout = b"\x02\x00\x00\x00" + b"\xaa" * 60, b"\xbb" * 90
    return {
        "pending": rb.Receipt(data[0], proof, cp3, None),
        "anchored": rb.Receipt(data[0], proof, cp3,
                               rb.Anchor(3, tx, txout, 840000, headers, 0, None, None)),
        "anchored-consistency": rb.Receipt(data[0], proof, cp3,
                                           rb.Anchor(4, tx, txout, 840000, headers, 1, cp5,
                                                     consistency)),
    }


def as_json(r: rb.Receipt) -> dict:
    out = {"entry": r.entry.hex(), "proof": r.proof.hex(), "note": r.note,
           "public_key": PUB.hex(), "bytes": rb.encode(r).hex()}
    if r.anchor is not None:
        a = r.anchor
        out["anchor"] = {"sequence": a.sequence, "tx": a.tx.hex(),
                         "txout_proof": a.txout_proof.hex(),
                         "checkpoint_height": a.checkpoint_height, "headers": a.headers.hex(),
                         "block_index": a.block_index, "consistency_note": a.consistency_note,
                         "consistency_proof": None if a.consistency_proof is None
                         else a.consistency_proof.hex()}
    return out


def main() -> None:
    for name, r in build().items():
        (HERE / f"{name}.json").write_text(json.dumps(as_json(r), indent=1, sort_keys=True)
                                           + "\n")


if __name__ == "__main__":
    main()
