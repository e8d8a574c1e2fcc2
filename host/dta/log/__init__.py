"""The D-TA transparency log (issue 5): an RFC 9162 Merkle log of shares and device events with
signed C2SP-style checkpoints, inclusion and consistency proofs, stored crash-safely in SQLite.

Public API: LogStore, CheckpointRecord, Signer (store); Log (service); Receipt, verify_receipt
(receipt); MerkleTree (tree); LocalSigner, load_signer (keys). Wire formats live in dtacore
(merkle, entries, note) so devices verify the same bytes.
"""

from dta.log.receipt import Receipt, verify_receipt
from dta.log.service import Log
from dta.log.store import CheckpointRecord, LogStore, Signer
from dta.log.tree import MerkleTree, TreeError

__all__ = ["CheckpointRecord", "Log", "LogStore", "MerkleTree", "Receipt", "Signer",
           "TreeError", "verify_receipt"]
