"""Evidence from the node for receipts: the anchoring transaction, its merkle proof and the
headers a verifier needs (dta.receipt holds the format, dta.verify checks it); and `upgrade`,
which fills a log receipt's `anchor` (and, for a checkpoint that was not itself anchored, its
`consistency` link to the later checkpoint that was)."""

from __future__ import annotations

from dta.anchor.rpc import Node
from dta.anchor.store import CONFIRMED, FINAL, AnchorRow, AnchorStore
from dta.authority.identity import PublicFacts
from dta.errors import ChainError, StoreError
from dta.receipt import AnchorEvidence, BirthReceipt, ChainProof, ConsistencyLink, Receipt
from dtacore import bitcoin, merkle, note, spv


def chain_proof(node: Node, *, txid: str, raw_tx: bytes, block_hash: str, k: int,
                checkpoint_height: int | None = None) -> ChainProof:
    """tx, txout proof and the headers from just after `checkpoint_height` (default: the
    block's parent) to k confirmations (or the tip)."""
    height = node.block_height(block_hash)
    start = height - 1 if checkpoint_height is None else checkpoint_height
    if start >= height or start < 0:
        raise ChainError(f"checkpoint height {start} is not below the anchor's block {height}")
    last = min(node.height(), height + k - 1)
    if last - start > spv.MAX_HEADERS:
        raise ChainError(f"a checkpoint {height - start} blocks back needs more than "
                         f"{spv.MAX_HEADERS} headers; give a later --checkpoint-height")
    headers = tuple(bytes.fromhex(node.header_hex(node.block_hash(h)))
                    for h in range(start + 1, last + 1))
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
    """A Birth receipt: the D-TA's identity key anchored this id, k deep.
    With `record` (revealed) anyone can also read who the D-TA says it is."""
    return BirthReceipt(facts.network, facts.dta_id, facts.identity_pubkey,
                        chain_proof(node, **where), record)


def covering(anchors: AnchorStore, size: int, root: bytes) -> AnchorRow | None:
    """The queued checkpoint that anchors a checkpoint of (size, root): itself, else the first
    later one (the anchor window skipped it; the later tree extends it)."""
    rows = [r for r in anchors.all() if r.sequence is not None]
    same = next((r for r in rows if r.tree_size == size and r.root == root), None)
    return same or next((r for r in rows if r.tree_size > size), None)


def _link(log_store, cp, row: AnchorRow) -> ConsistencyLink:
    if log_store is None:
        raise ChainError("this checkpoint was not anchored itself and there is no log here to "
                         "prove the later, anchored one extends it")
    try:
        if log_store.root(cp.size) != cp.root:
            raise ChainError("the receipt's checkpoint is not one of this log's")
        later = log_store.checkpoint(row.sequence)
        path = log_store.consistency_proof(size1=cp.size, size2=later.tree_size)
    except StoreError as exc:
        raise ChainError(f"cannot link the receipt's checkpoint to checkpoint {row.sequence}: "
                         f"{exc}") from None
    if later.tree_size != row.tree_size or later.root != row.root:
        raise ChainError(f"checkpoint {row.sequence} in the log is not the one anchored")
    return ConsistencyLink(later.note, merkle.encode_consistency(
        size1=cp.size, size2=later.tree_size, path=path))


def _own_sequence(log_store, cp) -> int:
    # The log's sequence number of a checkpoint no anchor covers yet (its window is open).
    for rec in (log_store.checkpoints() if log_store is not None else ()):
        if rec.tree_size == cp.size and rec.root == cp.root:
            return rec.seq
    raise ChainError("this checkpoint was never queued for anchoring here")


def upgrade(rec: Receipt, *, anchors: AnchorStore, log_store, node: Node | None,
            facts: PublicFacts, k: int, checkpoint_height: int | None = None) -> Receipt:
    """`rec` with its anchor evidence: the chain proof once the covering anchor is confirmed
    (a node is needed), else pending; with a consistency link when the covering anchor is a
    later checkpoint (`log_store`, a dta.log.LogStore, gives its note and the proof)."""
    cp = note.parse_checkpoint(rec.checkpoint)
    row = covering(anchors, cp.size, cp.root)
    if row is None:
        return Receipt(rec.entry, rec.proof, rec.checkpoint,
                       pending(facts, _own_sequence(log_store, cp)))
    link = None if (row.tree_size, row.root) == (cp.size, cp.root) else _link(log_store, cp, row)
    if row.state in (CONFIRMED, FINAL) and node is not None:
        ev = anchored(node, facts, row.sequence, txid=row.txid,
                      raw_tx=bytes.fromhex(row.current["raw"]), block_hash=row.block_hash, k=k,
                      checkpoint_height=checkpoint_height)
    else:
        ev = pending(facts, row.sequence)
    return Receipt(rec.entry, rec.proof, rec.checkpoint, ev, link)
