"""Walk a D-TA's seal chain from its Birth Record through a node, trusting nothing the D-TA says.

Every block from `from_height` is scanned. The Birth Record transaction is the one whose
OP_RETURN is a birth payload for the D-TA id; its change output (vout 1) is the first seal.
Each later anchor must spend the current seal. The walk reports:

- gaps:   a checkpoint sequence number that skips ahead, or a tree that shrinks;
- forks:  a D-TA-tagged anchor (a second birth, or a checkpoint with this id prefix) that does
          not spend the seal: someone is publishing a second history for this id;
- second spend: the seal spent by a transaction that carries no anchor (the chain is cut).
"""

from __future__ import annotations

from dta.anchor.replies import ChainTx
from dta.anchor.rpc import Node
from dta.anchor.tx import SEAL_VOUT
from dtacore import anchor
from dtacore.errors import DecodeError


def payload_of_rpc_tx(tx: ChainTx):
    """The decoded D-TA payload of a transaction as the node's RPC shows it (checked by
    dta.anchor.replies), or None: the outputs go through dtacore.anchor.find_payload, the one
    OP_RETURN extractor."""
    data = anchor.find_payload([(out.value, out.script) for out in tx.outputs])
    if data is None or data[:4] != anchor.MARKER:
        return None
    try:
        return anchor.decode(data)
    except DecodeError:
        return None


class _Walk:
    def __init__(self, dta_id: bytes):
        self.dta_id, self.prefix = dta_id, dta_id[:anchor.ID_PREFIX_LEN]
        self.seal = self.birth = None
        self.links, self.gaps, self.forks, self.spends = [], [], [], []
        self.last_seq = self.last_size = None

    def ours(self, p) -> bool:
        return p is not None and (
            (p.kind == anchor.KIND_BIRTH and p.dta_id == self.dta_id)
            or (p.kind == anchor.KIND_CHECKPOINT and p.id_prefix == self.prefix))

    def visit(self, height: int, tx: ChainTx) -> None:
        p = payload_of_rpc_tx(tx)
        spent = [(i.txid, i.vout) for i in tx.inputs if i.txid is not None]
        if self.seal is not None and self.seal in spent:
            self.follow(height, tx, p if self.ours(p) else None)
        elif self.ours(p):
            self.tagged(height, tx, p)

    def follow(self, height: int, tx: ChainTx, p) -> None:
        # tx spends the current seal: the next link, or the end of the chain.
        if p is None or p.kind != anchor.KIND_CHECKPOINT:
            self.spends.append({"height": height, "txid": tx.txid,
                                "reason": "the seal was spent without an anchor payload"})
            self.seal = None
            return
        where = {"height": height, "txid": tx.txid}
        if self.last_seq is not None and p.sequence != self.last_seq + 1:
            self.gaps.append(dict(where, reason=f"sequence {p.sequence} follows {self.last_seq}"))
        if self.last_size is not None and p.tree_size < self.last_size:
            self.gaps.append(dict(where, reason=f"tree shrank from {self.last_size} to "
                                                f"{p.tree_size}"))
        self.last_seq, self.last_size = p.sequence, p.tree_size
        self.links.append(dict(where, sequence=p.sequence, tree_size=p.tree_size,
                               root=p.root.hex()))
        self.seal = (tx.txid, SEAL_VOUT)

    def tagged(self, height: int, tx: ChainTx, p) -> None:
        # A transaction tagged with this D-TA that does not spend the seal.
        if p.kind == anchor.KIND_BIRTH and self.birth is None and not self.spends:
            witness = tx.inputs[0].witness
            self.birth = {"height": height, "txid": tx.txid,
                          "identity_pubkey": witness[1].hex() if len(witness) == 2 else None}
            self.seal = (tx.txid, SEAL_VOUT)
            return
        self.forks.append({"height": height, "txid": tx.txid,
                           "reason": "D-TA anchor that does not spend the current seal"})

    def result(self, tip: int) -> dict:
        return {"dta_id": self.dta_id.hex(), "birth": self.birth, "anchors": self.links,
                "gaps": self.gaps, "forks": self.forks, "second_spends": self.spends,
                "seal": {"txid": self.seal[0], "vout": self.seal[1]} if self.seal else None,
                "ok": self.birth is not None and not (self.gaps or self.forks or self.spends),
                "scanned_to": tip}


def walk(node: Node, dta_id: bytes, *, from_height: int = 0, to_height: int | None = None) -> dict:
    tip = node.height() if to_height is None else to_height
    w = _Walk(bytes(dta_id))
    for height in range(from_height, tip + 1):
        for tx in node.block_transactions(node.block_hash(height)):
            w.visit(height, tx)
    return w.result(tip)
