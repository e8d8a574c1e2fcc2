"""Receipts: an entry, its inclusion proof and the signed checkpoint the proof is against.

JSON, one object (docs/log.md has an example)::

    {"format": "dta-log-receipt/1",
     "entry": "<hex of the canonical entry encoding>",
     "proof": "<hex of the binary inclusion proof, dtacore.merkle encoding>",
     "checkpoint": "<signed note text>",
     "anchor": null}

The proof carries leaf index and tree size; verification checks that the tree size equals the
checkpoint's, then recomputes the root from the leaf hash and compares it to the checkpoint's.
``anchor`` is filled by the anchoring side (issue 4) and ignored here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from dtacore import entries, merkle, note
from dtacore.errors import DecodeError

from dta.errors import StoreError
from dta.log import keys

FORMAT = "dta-log-receipt/1"
# A receipt is an entry (<= 1 KiB), a proof (<= 64 hashes) and a checkpoint note (<= 4 KiB),
# hex-encoded: 16 KiB bounds it with room for an anchor.
MAX_RECEIPT = 16384
_KEYS = {"format", "entry", "proof", "checkpoint", "anchor"}


@dataclass(frozen=True)
class Receipt:
    entry: bytes
    proof: bytes
    checkpoint: str
    anchor: object = None

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, "entry": self.entry.hex(), "proof": self.proof.hex(),
                           "checkpoint": self.checkpoint, "anchor": self.anchor}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> "Receipt":
        if len(text) > MAX_RECEIPT:
            raise DecodeError("receipt over MAX_RECEIPT")
        try:
            obj = json.loads(text)
        except ValueError:
            raise DecodeError("receipt is not JSON") from None
        if not isinstance(obj, dict) or set(obj) != _KEYS or obj["format"] != FORMAT:
            raise DecodeError("not a dta-log-receipt/1 object")
        if not all(isinstance(obj[k], str) for k in ("entry", "proof", "checkpoint")):
            raise DecodeError("receipt fields must be strings")
        try:
            return cls(bytes.fromhex(obj["entry"]), bytes.fromhex(obj["proof"]),
                       obj["checkpoint"], obj["anchor"])
        except ValueError:
            raise DecodeError("receipt entry or proof is not hex") from None


def make_receipt(store, index: int, seq: int | None = None) -> Receipt:
    """Receipt for entry `index` of a LogStore against checkpoint `seq` (default: the first
    checkpoint whose tree contains the entry)."""
    cp = store.checkpoint_covering(index) if seq is None else store.checkpoint(seq)
    if cp is None or cp.tree_size <= index:
        raise StoreError(f"no checkpoint covers entry {index} yet")
    path = store.inclusion_proof(index, cp.tree_size)
    proof = merkle.encode_proof(merkle.PROOF_INCLUSION, cp.tree_size, index, path)
    return Receipt(store.entry(index), proof, cp.note)


def verify_receipt(receipt: Receipt, *, key_name: str, public_key: bytes, verify=None):
    """Check signature, proof and entry; return (decoded entry, leaf index, Checkpoint)."""
    index, cp = note.verify_entry_in_checkpoint(receipt.checkpoint, receipt.entry, receipt.proof,
                                                key_name, public_key,
                                                verify or keys.verify_digest)
    return entries.decode(receipt.entry), index, cp
