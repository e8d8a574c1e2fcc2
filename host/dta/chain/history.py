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

from dtacore import anchor
from dtacore.errors import DecodeError

from dta.chain.rpc import Node


def _payload(tx: dict):
    for out in tx.get("vout", []):
        data = anchor.payload_of(bytes.fromhex(out["scriptPubKey"]["hex"]))
        if data is not None and data[:4] == anchor.MARKER:
            try:
                return anchor.decode(data)
            except DecodeError:
                return None
    return None


def walk(node: Node, dta_id: bytes, *, from_height: int = 0, to_height: int | None = None) -> dict:
    tip = node.height() if to_height is None else to_height
    prefix = dta_id[:anchor.ID_PREFIX_LEN]
    seal = None
    birth, links, gaps, forks, spends = None, [], [], [], []
    last_seq = last_size = None
    for height in range(from_height, tip + 1):
        for tx in node.block_txs(node.block_hash(height)):
            decoded = _payload(tx)
            ours = decoded is not None and (
                (decoded[0] == anchor.KIND_BIRTH and decoded[1] == dta_id)
                or (decoded[0] == anchor.KIND_CHECKPOINT and decoded[1] == prefix))
            spent = [(i.get("txid"), i.get("vout")) for i in tx.get("vin", []) if "txid" in i]
            if seal is not None and seal in spent:
                if ours and decoded[0] == anchor.KIND_CHECKPOINT:
                    seq, size = decoded[2], decoded[3]
                    if last_seq is not None and seq != last_seq + 1:
                        gaps.append({"height": height, "txid": tx["txid"],
                                     "reason": f"sequence {seq} follows {last_seq}"})
                    if last_size is not None and size < last_size:
                        gaps.append({"height": height, "txid": tx["txid"],
                                     "reason": f"tree shrank from {last_size} to {size}"})
                    last_seq, last_size = seq, size
                    links.append({"height": height, "txid": tx["txid"], "sequence": seq,
                                  "tree_size": size, "root": decoded[4].hex()})
                    seal = (tx["txid"], 1)
                else:
                    spends.append({"height": height, "txid": tx["txid"],
                                   "reason": "the seal was spent without an anchor payload"})
                    seal = None
                continue
            if not ours:
                continue
            if decoded[0] == anchor.KIND_BIRTH and birth is None and not spends:
                witness = tx["vin"][0].get("txinwitness") or []
                birth = {"height": height, "txid": tx["txid"],
                         "identity_pubkey": witness[1] if len(witness) == 2 else None}
                seal = (tx["txid"], 1)
                continue
            forks.append({"height": height, "txid": tx["txid"],
                          "reason": "D-TA anchor that does not spend the current seal"})
    return {"dta_id": dta_id.hex(), "birth": birth, "anchors": links, "gaps": gaps,
            "forks": forks, "second_spends": spends,
            "seal": {"txid": seal[0], "vout": seal[1]} if seal else None,
            "ok": birth is not None and not (gaps or forks or spends), "scanned_to": tip}
