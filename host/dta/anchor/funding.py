"""Finding the output that funds the seal chain (or tops it up) by watching blocks."""

from __future__ import annotations

from dta.anchor.replies import COINBASE_MATURITY
from dta.anchor.tx import Outpoint


def scan(node, script: bytes, *, from_height: int, skip_txids: set[str],
         skip_outpoints: set[tuple[str, int]]) -> Outpoint | None:
    """The largest unspent, mature output paying `script` in blocks from `from_height` to the
    tip, leaving out transactions in `skip_txids` (our own anchors, whose change is the seal)
    and outpoints already known."""
    best = None
    for height in range(max(from_height, 0), node.height() + 1):
        for tx in node.block_transactions(node.block_hash(height)):
            if tx.txid in skip_txids:
                continue
            for out in tx.outputs:
                if out.script != script or (tx.txid, out.n) in skip_outpoints:
                    continue
                coin = node.unspent(tx.txid, out.n)
                if coin is None or (tx.coinbase and coin.confirmations < COINBASE_MATURITY):
                    continue
                if best is None or out.value > best.value:
                    best = Outpoint(tx.txid, out.n, out.value)
    return best
