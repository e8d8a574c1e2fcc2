"""One JSON-RPC client for Bitcoin Core (what operators run) and the bcoin regtest node the tests
use. The dialect differences live in `Node`, the small compatibility layer; callers never branch
on which node they talk to.
"""

from __future__ import annotations

import base64
import http.client
import itertools
import json
import socket
import time
import urllib.parse
from decimal import Decimal
from pathlib import Path

from dta.anchor import address as addr
from dta.errors import ChainError, NodeUnreachable, RpcError

# Core's bech32 prefix on regtest is "bcrt"; bcoin 1.0.2's is "rb" (docs/anchoring.md).
BCOIN_REGTEST_HRP = "rb"
# How long bcoin may take to admit a transaction it was sent (it answers before deciding).
BCOIN_ACCEPT_TIMEOUT = 3.0


class RpcClient:
    """Bitcoin Core JSON-RPC over HTTP basic auth: http://user:password@host:port/[wallet/...]."""

    def __init__(self, url: str, *, timeout: float = 30.0, cookie_file: str | None = None):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ChainError(f"not an http(s) JSON-RPC URL: {url!r}")
        self.host, self.port = (parts.hostname,
                                parts.port or (443 if parts.scheme == "https" else 8332))
        self.scheme, self.path = parts.scheme, parts.path or "/"
        user, password = (urllib.parse.unquote(parts.username or ""),
                          urllib.parse.unquote(parts.password or ""))
        if not password and cookie_file:
            try:
                user, _, password = Path(cookie_file).read_text().strip().partition(":")
            except OSError as exc:
                raise ChainError(f"cannot read RPC cookie file: {exc}") from None
        self._auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.timeout = timeout
        self._ids = itertools.count(1)

    def __repr__(self) -> str:
        return f"RpcClient({self.scheme}://{self.host}:{self.port}{self.path})"

    def call(self, method: str, *params):
        body = json.dumps({"jsonrpc": "1.0", "id": next(self._ids), "method": method,
                           "params": list(params)})
        conn_cls = (http.client.HTTPSConnection if self.scheme == "https"
                    else http.client.HTTPConnection)
        conn = conn_cls(self.host, self.port, timeout=self.timeout)
        try:
            conn.request("POST", self.path, body, {"Authorization": self._auth,
                                                   "Content-Type": "application/json"})
            resp = conn.getresponse()
            raw = resp.read()
        except (OSError, socket.timeout, http.client.HTTPException) as exc:
            raise NodeUnreachable(f"{self!r}: {method}: {exc}") from None
        finally:
            conn.close()
        if resp.status == 401:
            raise ChainError(f"{self!r}: authentication failed (check the RPC user/password)")
        try:
            reply = json.loads(raw, parse_float=Decimal)
        except ValueError:
            raise NodeUnreachable(f"{self!r}: {method}: HTTP {resp.status}, not JSON") from None
        err = reply.get("error") if isinstance(reply, dict) else None
        if err:
            raise RpcError(method, int(err.get("code", 0) or 0), str(err.get("message", err)))
        if resp.status != 200:
            raise NodeUnreachable(f"{self!r}: {method}: HTTP {resp.status}")
        return reply.get("result")


class Node:
    """Chain queries in Bitcoin Core terms; bcoin's dialect is translated here."""

    def __init__(self, client: RpcClient):
        self.rpc = client
        self._flavor: str | None = None

    @classmethod
    def from_url(cls, url: str, **kw) -> "Node":
        return cls(RpcClient(url, **kw))

    @classmethod
    def from_config(cls, cfg, url: str | None = None) -> "Node | None":
        """The node `url` names, else the configured one (chain.rpc_url); None when neither."""
        url = url or cfg.chain.rpc_url
        if not url:
            return None
        return cls.from_url(url, cookie_file=cfg.chain.rpc_cookie or None)

    @property
    def flavor(self) -> str:
        if self._flavor is None:
            info = self.rpc.call("getnetworkinfo")
            self._flavor = "bcoin" if "bcoin" in str(info.get("subversion", "")).lower() else "core"
        return self._flavor

    def network(self) -> str:
        """mainnet, testnet, signet or regtest, from getblockchaininfo's `chain`."""
        chain = self.rpc.call("getblockchaininfo")["chain"]
        return {"main": "mainnet", "test": "testnet", "testnet4": "testnet"}.get(chain, chain)

    def require_txindex(self) -> None:
        """Core finds confirmed transactions by txid only with -txindex; bcoin runs with
        --index-tx in the fixture and has no getindexinfo."""
        if self.flavor != "core":
            return
        try:
            info = self.rpc.call("getindexinfo")
        except RpcError:
            return  # Core before 0.21: cannot tell; docs/anchoring.md asks for txindex=1
        if "txindex" not in info:
            raise ChainError("the node runs without -txindex=1: anchors could not be followed "
                             "once confirmed (see docs/anchoring.md)")

    def height(self) -> int:
        return int(self.rpc.call("getblockcount"))

    def block_hash(self, height: int) -> str:
        return self.rpc.call("getblockhash", height)

    def header_hex(self, block_hash: str) -> str:
        return self.rpc.call("getblockheader", block_hash, False)

    def header(self, block_hash: str) -> dict:
        return self.rpc.call("getblockheader", block_hash, True)

    def block_txs(self, block_hash: str) -> list[dict]:
        """Decoded transactions of a block (vin with txid/vout, vout with scriptPubKey.hex)."""
        if self.flavor == "bcoin":
            block = self.rpc.call("getblock", block_hash, True, True)
        else:
            block = self.rpc.call("getblock", block_hash, 2)
        return block["tx"]

    def tx(self, txid: str) -> dict | None:
        """Verbose transaction (needs Core's -txindex for confirmed ones); None if unknown."""
        try:
            return self.rpc.call("getrawtransaction", txid, True)
        except RpcError as exc:
            if exc.code in (-5, -8) or "not found" in exc.message.lower():
                return None
            raise

    def confirmations(self, txid: str) -> tuple[int, str | None]:
        """(confirmations, block hash); (0, None) in the mempool, (-1, None) when unknown."""
        info = self.tx(txid)
        if info is None:
            return -1, None
        block = info.get("blockhash") or None
        if not block:
            return 0, None
        conf = int(info.get("confirmations") or 0)
        return conf, block

    def in_mempool(self, txid: str) -> bool:
        return txid in self.rpc.call("getrawmempool")

    def txout(self, txid: str, vout: int) -> dict | None:
        return self.rpc.call("gettxout", txid, vout, True)

    def txout_proof(self, txid: str, block_hash: str) -> str:
        return self.rpc.call("gettxoutproof", [txid], block_hash)

    def send(self, raw_hex: str) -> str:
        txid = self.rpc.call("sendrawtransaction", raw_hex)
        if self.flavor == "bcoin":
            self._bcoin_accepted(txid)
        return txid

    def _bcoin_accepted(self, txid: str) -> None:
        # bcoin 1.0.2 answers sendrawtransaction before its mempool has looked at the transaction,
        # and only logs a refusal; Core raises. Poll for acceptance so both behave like Core.
        deadline = time.monotonic() + BCOIN_ACCEPT_TIMEOUT
        while not (self.in_mempool(txid) or self.confirmations(txid)[0] >= 1):
            if time.monotonic() > deadline:
                raise RpcError("sendrawtransaction", -26, "not accepted into the node's mempool")
            time.sleep(0.02)

    def fee_rate(self, target_blocks: int) -> int | None:
        """The node's estimate in sat/kvB, or None when it has none (fresh regtest, bcoin -1)."""
        try:
            res = self.rpc.call("estimatesmartfee", target_blocks)
        except RpcError:
            return None
        rate = res.get("feerate", res.get("fee")) if isinstance(res, dict) else None
        if rate is None or Decimal(rate) <= 0:
            return None
        return int(Decimal(rate) * 100_000_000)

    def generate_to_script(self, n: int, script: bytes) -> list[str]:
        """Mine n blocks paying to `script` (regtest only)."""
        if self.flavor == "bcoin":
            if len(script) != 22 or script[:2] != b"\x00\x14":
                raise ChainError("bcoin mining supports P2WPKH scripts only here")
            return self.rpc.call("generatetoaddress", n,
                                 addr.segwit_v0_address(BCOIN_REGTEST_HRP, script[2:]))
        return self.rpc.call("generatetodescriptor", n, f"raw({script.hex()})")

    def invalidate(self, block_hash: str) -> None:
        self.rpc.call("invalidateblock", block_hash)
