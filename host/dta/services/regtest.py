"""A private bcoin regtest node (npm bcoin 1.0.2 under devnet/) for the demo and the tests.

It runs in memory on a free loopback port with a random API key, is ready when its JSON-RPC
answers, and is stopped by PID. Its RPC dialect differences from Bitcoin Core are handled in
dta.anchor.rpc (the compatibility layer), not here. `prepare` mines it past the heights bcoin's
regtest needs (segwit) and `fund_by_mining` pays a script a mature coinbase: what the demo and
the tests do before anchoring on it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from dta.anchor.anchorer import COINBASE_MATURITY
from dta.anchor.rpc import Node, RpcClient
from dta.anchor.tx import Outpoint
from dta.errors import NodeUnreachable, ServiceError
from dta.services.mosquitto import free_port
from dta.services.paths import DEVNET_DIR
from dta.services.process import ChildService

READY_TIMEOUT = 30.0
# bcoin's regtest enforces segwit (BIP 9) from height 432.
SEGWIT_HEIGHT = 440
# Coinbases of blocks nobody needs: a P2WPKH to the all-zero hash (no known key).
BURN = b"\x00\x14" + bytes(20)
NODE_SCRIPT = DEVNET_DIR / "node_modules" / "bcoin" / "bin" / "node"


def available() -> bool:
    return NODE_SCRIPT.exists() and shutil.which("node") is not None


class RegtestNode(ChildService):
    """`with RegtestNode(tmpdir) as node:` ... `node.url` is a JSON-RPC URL with credentials."""

    stop_grace = 10.0

    def __init__(self, workdir: Path, port: int | None = None, *, memory: bool = True,
                 api_key: str | None = None):
        # memory=False keeps the chain in <workdir> (leveldb) so a stop/start keeps it; a
        # restarted node keeps its URL when given the same port and api_key.
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.memory = memory
        self.api_key = api_key or os.urandom(16).hex()
        self.proc: subprocess.Popen | None = None
        self.log_path = self.workdir / "bcoin.log"

    @property
    def url(self) -> str:
        return f"http://dta:{self.api_key}@127.0.0.1:{self.port}/"

    def command(self) -> list[str]:
        node = shutil.which("node")
        if not node or not NODE_SCRIPT.exists():
            raise ServiceError("bcoin regtest node not installed (Node.js and `make devnet`)")
        return [node, str(NODE_SCRIPT), "--network=regtest",
                f"--memory={'true' if self.memory else 'false'}", "--workers=false",
                "--listen=false", "--no-wallet=true", "--index-tx=true", "--replace-by-fee=true",
                "--http-host=127.0.0.1", f"--http-port={self.port}", f"--api-key={self.api_key}",
                f"--prefix={self.workdir}", "--log-level=warning"]

    def start(self, timeout: float = READY_TIMEOUT) -> "RegtestNode":
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        # Its own session: a terminal's Ctrl-C reaches the command that started it, which
        # stops it in order, never the node directly.
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=str(self.workdir),
                                     start_new_session=True)
        log.close()
        client = RpcClient(self.url, timeout=2.0)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise ServiceError(f"bcoin exited with {self.proc.returncode}: {self._tail()}")
            try:
                client.call("getblockcount")
                return self
            except NodeUnreachable as exc:
                if time.monotonic() > deadline:
                    self.stop()
                    raise ServiceError(
                        f"bcoin did not answer within {timeout}s: {self._tail()}") from exc
                time.sleep(0.05)  # poll interval while waiting for the port to open

    def _tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-500:]
        except OSError:
            return ""


def prepare(node: Node) -> None:
    """Mine past the heights bcoin's regtest needs before it relays segwit spends, when the
    node says segwit is not active yet (a Core-style regtest has it from genesis)."""
    if node.capabilities(refresh=True).segwit_active is False:
        missing = SEGWIT_HEIGHT - node.height()
        if missing > 0:
            node.generate_to_script(missing, BURN)


def fund_by_mining(node: Node, script: bytes) -> Outpoint:
    """Mine a block paying `script`, then enough blocks for its coinbase to mature."""
    block = node.generate_to_script(1, script)[0]
    tx = node.block_txs(block)[0]
    node.generate_to_script(COINBASE_MATURITY, BURN)
    return Outpoint(tx["txid"], 0, int(round(tx["vout"][0]["value"] * 100_000_000)))
