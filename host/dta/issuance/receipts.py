"""Receipts for devices: the log's JSON receipt (dta.receipt.Receipt) in the binary form a device
gets in MSG_RECEIPT parts (dtacore.receipt_bytes), and back; the anchored upgrade of a share's
receipt once its checkpoint is anchored with k confirmations.

The binary form leaves out what the device knows (network, D-TA id, identity key): `to_receipt`
puts them back from the D-TA's public facts, so `dta verify` reads what a device holds.
"""

from __future__ import annotations

from dta.anchor import evidence
from dta.anchor.store import FINAL, AnchorStore
from dta.authority.identity import PublicFacts
from dta.errors import ChainError, NodeUnreachable, StoreError
from dta.receipt import AnchorEvidence, ChainProof, ConsistencyLink, Receipt
from dtacore import receipt_bytes as rb


def to_bytes(rec: Receipt) -> bytes:
    """The binary receipt of a pending (anchor None or pending evidence) or anchored receipt."""
    anchor = None
    if rec.anchor is not None and rec.anchor.chain is not None:
        c = rec.anchor.chain
        link = rec.consistency
        anchor = rb.Anchor(rec.anchor.sequence, c.tx, c.txout_proof, c.checkpoint_height,
                           c.header_bytes, c.block_index,
                           None if link is None else link.checkpoint,
                           None if link is None else link.proof)
    return rb.encode(rb.Receipt(rec.entry, rec.proof, rec.checkpoint, anchor))


def to_receipt(data: bytes, facts: PublicFacts) -> Receipt:
    """A binary receipt (strictly decoded) as the JSON receipt model, with the D-TA's facts."""
    r = rb.decode(data)
    if r.anchor is None:
        return Receipt(r.entry, r.proof, r.note)
    a = r.anchor
    headers = tuple(a.headers[i:i + rb.HEADER_LEN] for i in range(0, len(a.headers),
                                                                   rb.HEADER_LEN))
    chain = ChainProof(a.tx, a.txout_proof, a.checkpoint_height, headers, a.block_index)
    ev = AnchorEvidence(facts.network, facts.dta_id, facts.identity_pubkey, a.sequence, chain)
    link = (None if a.consistency_note is None
            else ConsistencyLink(a.consistency_note, a.consistency_proof))
    return Receipt(r.entry, r.proof, r.note, ev, link)


class Upgrades:
    """Anchored receipts for a log's entries: `anchored(index, trusted_height)` -> the binary
    anchored receipt once the checkpoint covering the entry (or a later one linked to it) is
    anchored with k confirmations, else None."""

    def __init__(self, log_store, anchors: AnchorStore, node, facts: PublicFacts, k: int):
        self.log_store = log_store
        self.anchors = anchors
        self.node = node
        self.facts = facts
        self.k = k

    def anchored(self, index: int, trusted_height: int) -> bytes | None:
        if self.node is None:
            return None
        try:
            rec = self.log_store.receipt(index)
        except StoreError:
            return None  # no stored checkpoint covers it yet: it is not anchored either
        cp_size, cp_root = self._checkpoint(rec)
        row = evidence.covering(self.anchors, cp_size, cp_root)
        if row is None or row.state != FINAL or row.height is None:
            return None
        if not trusted_height < row.height or row.height - trusted_height > rb.MAX_HEADERS:
            return None  # the device's header cannot reach this block in one receipt
        try:
            up = evidence.upgrade(rec, anchors=self.anchors, log_store=self.log_store,
                                  node=self.node, facts=self.facts, k=self.k,
                                  checkpoint_height=trusted_height)
        except (ChainError, StoreError, NodeUnreachable):
            return None  # the node changed under us, or is gone: the next session tries again
        if up.anchor is None or up.anchor.chain is None:
            return None
        if len(up.anchor.chain.headers) > rb.MAX_HEADERS:
            return None
        return to_bytes(up)

    @staticmethod
    def _checkpoint(rec: Receipt) -> tuple[int, bytes]:
        from dtacore import note
        cp = note.parse_checkpoint(rec.checkpoint)
        return cp.size, cp.root
