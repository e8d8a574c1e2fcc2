"""The D-TA transparency log: an RFC 9162 Merkle log of shares and device events with signed
C2SP-style checkpoints, inclusion and consistency proofs, stored crash-safely in SQLite.

Public API: LogStore, CheckpointRecord, Signer (store); Log (service); MerkleTree, TreeError
(tree). Wire formats live in dtacore (merkle, entries, note) so devices verify the same bytes;
receipts are dta.receipt, and their verification dta.verify on dtacore.receipt.
"""

from dta.log.service import Log
from dta.log.store import CheckpointRecord, LogStore, Signer
from dta.log.tree import MerkleTree, TreeError

__all__ = ["CheckpointRecord", "Log", "LogStore", "MerkleTree", "Signer", "TreeError"]
