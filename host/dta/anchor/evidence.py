"""Evidence from the node for receipts: the anchoring transaction, its merkle proof and the
headers a verifier needs (dta.receipt holds the format, dta.verify checks it)."""

from __future__ import annotations

from dta.anchor.rpc import Node
from dta.authority.identity import PublicFacts
from dta.errors import ChainError
from dta.receipt import AnchorEvidence, BirthReceipt, ChainProof
from dtacore import bitcoin, spv


def chain_proof(node: Node, *, txid: str, raw_tx: bytes, block_hash: str, k: int,
                checkpoint_height: int | None = None) -> ChainProof:
    """tx, txout proof and the headers from just after `checkpoint_height` (default: the
    block's parent) to k confirmations (or the tip)."""
    height = int(node.header(block_hash)["height"])
    start = height - 1 if checkpoint_height is None else checkpoint_height
    if start >= height or start < 0:
        raise ChainError(f"checkpoint height {start} is not below the anchor's block {height}")
    last = min(node.height(), height + k - 1)
    headers = tuple(bytes.fromhex(node.header_hex(node.block_hash(h)))
                    for h in range(start + 1, last + 1))
    if len(headers) > spv.MAX_HEADERS:
        raise ChainError(f"a checkpoint {height - start} blocks back needs more than "
                         f"{spv.MAX_HEADERS} headers; give a later --checkpoint-height")
    index = height - start - 1
    if bitcoin.reverse(spv.header_hash(headers[index])).hex() != block_hash:
        raise ChainError("the node's best chain changed while building the receipt; retry")
    return ChainProof(bytes(raw_tx), bytes.fromhex(node.txout_proof(txid, block_hash)), start,
                      headers, index)


def pending(facts: PublicFacts, sequence: int) -> AnchorEvidence:
    return AnchorEvidence(facts.network, facts.dta_id, facts.identity_pubkey, sequence)


def anchored(node: Node, facts: PublicFacts, sequence: int, **where) -> AnchorEvidence:
    """Evidence for a confirmed checkpoint anchor (the log receipt's `anchor` field); `where`
    are chain_proof's txid, raw_tx, block_hash, k and checkpoint_height."""
    return AnchorEvidence(facts.network, facts.dta_id, facts.identity_pubkey, sequence,
                          chain_proof(node, **where))


def birth(node: Node, facts: PublicFacts, record: bytes | None = None, **where) -> BirthReceipt:
    """A Birth receipt: the D-TA's identity key is the one that anchored this id, k deep.
    With `record` (revealed) anyone can also read who the D-TA says it is."""
    return BirthReceipt(facts.network, facts.dta_id, facts.identity_pubkey,
                        chain_proof(node, **where), record)
