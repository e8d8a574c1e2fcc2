"""The demo's chain: a bcoin regtest node of its own (dta.services.devnet under the demo's
directory, its chain kept on disk so a second run finds every birth), the block header the
demo's devices are provisioned with, the coins that fund its D-TAs, and a block clock.

Regtest has no miners: `BlockClock` stands in for them. Once a tick it looks at what waits for
a block (a transaction in the node's mempool, an anchor not yet k deep) and mines one block if
anything does, so the chain moves while there is something to confirm and stands still
otherwise (a long-running demo does not grow a chain of empty blocks).
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from dta import strictjson
from dta.anchor.replies import COINBASE_MATURITY
from dta.anchor.rpc import Node
from dta.anchor.store import CONFIRMED, UNCONFIRMED, AnchorRow
from dta.anchor.tx import Outpoint
from dta.errors import DtaError, StoreError
from dta.services.mosquitto import write_secret
from dta.services.regtest import BURN
from dtacore.errors import ProtocolError

log = logging.getLogger("dta.demo")

# Confirmations the demo's D-TAs and devices require: more than one, so "k deep" means something.
K = 2
CHECKPOINT_FILE = "checkpoint.json"
# checkpoint.json is a height and an 80-byte header in hex.
MAX_CHECKPOINT_FILE = 1024
HEADER_LEN = 80
# Seconds between the block clock's looks at the mempool and the anchors.
BLOCK_TICK = 1.0


@dataclass(frozen=True)
class Checkpoint:
    """A block header the devices trust without checking (provisioned at flash time): every
    birth they check links back to it."""

    height: int
    header: bytes


def _header(node: Node, height: int) -> bytes:
    return bytes.fromhex(node.header_hex(node.block_hash(height)))


def checkpoint(workdir: Path, node: Node) -> Checkpoint:
    """The header the demo's devices are provisioned with: the node's tip before the first
    birth, chosen once and kept in checkpoint.json. StoreError when the node's chain no longer
    holds it (the chain was removed: the births the D-TAs recorded are gone with it)."""
    path = Path(workdir) / CHECKPOINT_FILE
    if not path.exists():
        height = node.height()
        cp = Checkpoint(height, _header(node, height))
        write_secret(path, json.dumps({"height": height, "header": cp.header.hex()}))
        return cp
    what = str(path)
    try:
        data = strictjson.loads(path.read_bytes(), what=what, max_bytes=MAX_CHECKPOINT_FILE)
        cp = Checkpoint(strictjson.field(data, "height", int, what),
                        strictjson.hex_field(data, "header", what, HEADER_LEN))
    except ProtocolError as exc:
        raise StoreError(f"{exc}: remove {workdir} to start the demo afresh") from None
    if node.height() < cp.height or _header(node, cp.height) != cp.header:
        raise StoreError(f"the demo's devices trust block {cp.height}, which is not on the "
                         f"demo's chain (was {Path(workdir) / 'devnet'} removed?): remove "
                         f"{workdir} to start the demo afresh")
    return cp


def fund(node: Node, scripts: list[bytes]) -> list[Outpoint]:
    """A mature coinbase paying each script: one block each, then one maturity wait for all
    (regtest's subsidy halves every 150 blocks, so blocks are worth saving)."""
    blocks = [node.generate_to_script(1, script)[0] for script in scripts]
    node.generate_to_script(COINBASE_MATURITY, BURN)
    out = []
    for block in blocks:
        tx = node.block_txs(block)[0]
        out.append(Outpoint(tx["txid"], 0, int(round(tx["vout"][0]["value"] * 100_000_000))))
    return out


class BlockClock:
    """Mines one block a tick while anything waits for one; `on_tick()` after every look (the
    demo re-checks its story then). `rows()` gives every D-TA's anchor rows."""

    def __init__(self, node: Node, rows: Callable[[], list[AnchorRow]], k: int = K, *,
                 tick: float = BLOCK_TICK, on_tick: Callable[[], None] | None = None):
        self.node, self.rows, self.k, self.tick, self.on_tick = node, rows, k, tick, on_tick
        self.blocks = 0
        self.trouble: str | None = None  # the last error talking to the node, if any
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "BlockClock":
        self._thread = threading.Thread(target=self._run, name="demo block clock", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def _run(self) -> None:
        while not self._stop.wait(self.tick):
            try:
                if self.waiting():
                    self.node.generate_to_script(1, BURN)
                    self.blocks += 1
                self.trouble = None
            except DtaError as exc:  # the node did not answer: the next tick tries again
                self.trouble = str(exc)
                log.debug("block clock: %s", exc)
            if self.on_tick is not None:
                self.on_tick()

    def waiting(self) -> bool:
        """A transaction in the mempool, or an anchor sent and not yet k deep."""
        if self.node.rpc.call("getrawmempool"):
            return True
        tip = self.node.height()
        for row in self.rows():
            if row.state == UNCONFIRMED:
                return True
            if row.state == CONFIRMED and row.height is not None and \
                    tip < row.height + self.k - 1:
                return True
        return False
