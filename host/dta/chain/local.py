"""Anchoring on a private, throwaway regtest node: for the demo and for trying things out.

`anchor_locally` starts the bcoin regtest node (if `make devnet` installed it), activates
segwit, funds the identity key with a mature coinbase, anchors the Birth Record and the given
checkpoints, mines `k` blocks and stops the node. Without a node the same records are shown as
pending, which is what a D-TA with no Bitcoin node configured does.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable, Iterable

from dta.chain.address import p2wpkh_script
from dta.chain.anchorer import COINBASE_MATURITY, Anchorer
from dta.chain.rpc import Node
from dta.chain.store import AnchorStore
from dta.chain.tx import Outpoint
from dta.errors import ServiceError
from dta.services import regtest

# bcoin's regtest enforces segwit (BIP 9) from height 432.
SEGWIT_HEIGHT = 440
# Coinbases of blocks nobody needs: a P2WPKH to the all-zero hash (no known key).
BURN = b"\x00\x14" + bytes(20)


def fund_by_mining(node: Node, script: bytes) -> Outpoint:
    """Mine a block paying `script`, then enough blocks for its coinbase to mature."""
    block = node.generate_to_script(1, script)[0]
    tx = node.block_txs(block)[0]
    node.generate_to_script(COINBASE_MATURITY, BURN)
    return Outpoint(tx["txid"], 0, int(round(tx["vout"][0]["value"] * 100_000_000)))


def anchor_locally(workdir: Path | None, signer, dta_id: bytes,
                   records: Iterable[tuple[int, int, bytes]], *, k: int = 1,
                   say: Callable[[str], None] = print) -> dict:
    """Anchor (sequence, tree_size, root) records after the Birth Record; returns the last
    anchorer round (`anchors`, `pending`, `node`)."""
    workdir = Path(workdir or tempfile.mkdtemp(prefix="dta-regtest-"))
    store = AnchorStore(workdir / "anchors.sqlite3")
    records = list(records)
    if not regtest.available():
        out = _pending(store, signer, dta_id, records, k)
        say(f"no local Bitcoin node (run `make devnet`): {out['pending']} roots pending")
        return out
    try:
        server = regtest.RegtestNode(workdir / "bcoin").start()
    except ServiceError as exc:
        out = _pending(store, signer, dta_id, records, k)
        say(f"local regtest node did not start ({exc}); {out['pending']} roots pending")
        return out
    try:
        node = Node.from_url(server.url)
        node.generate_to_script(SEGWIT_HEIGHT, BURN)
        a = Anchorer(store, signer, dta_id, node, k=k)
        a.set_funding(fund_by_mining(node, p2wpkh_script(signer.public_key)))
        a.submit_birth()
        for seq, size, root in records:
            a.submit_checkpoint(seq, size, root)
        a.step()
        node.generate_to_script(k, BURN)
        out = a.step()
        for row in out["anchors"]:
            what = "Birth Record" if row["kind"] == "birth" else f"checkpoint {row['sequence']}"
            say(f"{what}: tx {row['txid']} in block {row['height']} ({row['state']}, "
                f"{row['vsize']} vB, {row['fee']} sat)")
        return out
    finally:
        server.stop()


def _pending(store, signer, dta_id, records, k) -> dict:
    a = Anchorer(store, signer, dta_id, None, k=k)
    a.submit_birth()
    for seq, size, root in records:
        a.submit_checkpoint(seq, size, root)
    return a.step()
