"""The demo's throwaway chain: a private bcoin regtest node, in memory, for one run.

`anchor_on_throwaway_node` starts the node (if `make devnet` installed it), mines it past
segwit, funds the identity key with a mature coinbase, then anchors exactly as `dta anchor run`
does (Anchorer.queue_from the log, then rounds), mines k blocks and stops the node. The chain is
new on every run, so its seal-chain store lives in a temporary directory that is removed
afterwards. Without a node the same records are shown as pending, which is what a D-TA with no
Bitcoin node configured does.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Callable

from dta.anchor.address import p2wpkh_script
from dta.anchor.anchorer import Anchorer
from dta.anchor.rpc import Node
from dta.anchor.store import AnchorStore
from dta.errors import ServiceError
from dta.services import regtest


def anchor_on_throwaway_node(parent: Path, signer, facts, log_store, *, k: int = 1,
                             say: Callable[[str], None] = print) -> dict:
    """Anchor the Birth Record and the log's checkpoints; returns the last anchorer round
    (`anchors`, `pending`, `node`)."""
    workdir = Path(tempfile.mkdtemp(prefix="throwaway-chain-", dir=parent))
    store = AnchorStore(workdir / "anchors.sqlite3")
    try:
        if not regtest.available():
            return _pending(store, signer, facts, log_store, k, say,
                            "no local Bitcoin node (run `make devnet`)")
        try:
            server = regtest.RegtestNode(workdir / "bcoin").start()
        except ServiceError as exc:
            return _pending(store, signer, facts, log_store, k, say,
                            f"local regtest node did not start ({exc})")
        try:
            return _anchor(Node.from_url(server.url), store, signer, facts, log_store, k, say)
        finally:
            server.stop()
    finally:
        store.close()
        shutil.rmtree(workdir, ignore_errors=True)


def _anchor(node: Node, store, signer, facts, log_store, k, say) -> dict:
    regtest.prepare(node)
    a = Anchorer(store, signer, facts.dta_id, node, k=k, network=facts.network)
    a.set_funding(regtest.fund_by_mining(node, p2wpkh_script(signer.public_key)))
    a.queue_from(log_store)
    a.step()
    node.generate_to_script(k, regtest.BURN)
    out = a.step()
    for row in out["anchors"]:
        what = "Birth Record" if row["kind"] == "birth" else f"checkpoint {row['sequence']}"
        say(f"{what}: tx {row['txid']} in block {row['height']} ({row['state']}, "
            f"{row['vsize']} vB, {row['fee']} sat) on a regtest chain made for this run")
    return out


def _pending(store, signer, facts, log_store, k, say, why: str) -> dict:
    a = Anchorer(store, signer, facts.dta_id, None, k=k, network=facts.network)
    a.queue_from(log_store)
    out = a.step()
    say(f"{why}: {out['pending']} roots pending")
    return out
