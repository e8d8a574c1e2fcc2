"""One JSON-RPC client for any node that speaks Bitcoin Core's RPC: Bitcoin Core (what operators
run), the bcoin regtest node the tests use, or another Core-compatible node.

`RpcClient` parses every reply strictly (dta.strictjson: size cap, no NaN, bounded nesting) and
turns anything that is not a JSON-RPC answer into `MalformedReply`, an error object into
`RpcError`, no answer into `NodeUnreachable`. `Node` asks in Core's terms and checks each answer's
shape (dta.anchor.replies); where nodes differ it branches on a probed capability
(dta.anchor.capabilities), never on the node's name. A transaction the node refuses raises
`TxRefused` with the node's reason, classified (dta.anchor.refusal).
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

from dta import strictjson
from dta.anchor import address as addr
from dta.anchor import capabilities as capability
from dta.anchor import refusal as refusals
from dta.anchor.fees import DEFAULT_INCREMENTAL, DEFAULT_MIN_RELAY, RelayFees
from dta.anchor.replies import (
    ChainTx,
    MalformedReply,
    Unspent,
    chain_tx,
    hash_hex,
    hex_bytes,
    integer,
    key,
    obj,
    rate,
    seq,
    text,
    unspent,
)
from dta.errors import ChainError, NodeUnreachable, RpcError
from dtacore import bitcoin
from dtacore.errors import DecodeError

# The largest answer asked for is a decoded block: a full 4 MWU block at getblock verbosity 2 is
# a few tens of MB of JSON. A reply larger than this is not one of ours.
MAX_REPLY = 128 << 20
# Core's RPC_IN_WARMUP: up, but still loading; as good as unreachable for this round.
CODE_IN_WARMUP = -28
# Core's error codes are C ints.
MAX_CODE = 1 << 31
# Error messages kept from a node (Core's longest are a few hundred characters).
MAX_MESSAGE = 500
# How long a node without testmempoolaccept may take to admit a transaction it was sent (bcoin
# answers sendrawtransaction before its mempool has looked at it), and how often to look.
ACCEPT_TIMEOUT = 3.0
ADMISSION_POLL = 0.05


class RpcClient:
    """Bitcoin Core JSON-RPC over HTTP basic auth: http://user:password@host:port/[wallet/...]."""

    def __init__(self, url: str, *, timeout: float = 30.0, cookie_file: str | None = None,
                 max_reply: int = MAX_REPLY):
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
        self.timeout, self.max_reply = timeout, max_reply
        self._ids = itertools.count(1)

    def __repr__(self) -> str:
        return f"RpcClient({self.scheme}://{self.host}:{self.port}{self.path})"

    def call(self, method: str, *params):
        req_id = next(self._ids)
        body = json.dumps({"jsonrpc": "1.0", "id": req_id, "method": method,
                           "params": list(params)})
        status, raw = self._post(method, body)
        if status == 401:
            raise ChainError(f"{self!r}: authentication failed (check the RPC user/password)")
        what = f"{self!r}: {method} reply"
        try:
            reply = strictjson.loads(raw, what=what, max_bytes=self.max_reply,
                                     parse_float=Decimal)
        except DecodeError as exc:
            if status != 200:
                raise NodeUnreachable(f"{self!r}: {method}: HTTP {status}, no JSON-RPC "
                                      "answer") from None
            raise MalformedReply(str(exc)) from None
        return self._result(method, req_id, reply, status, what)

    def _post(self, method: str, body: str) -> tuple[int, bytes]:
        conn_cls = (http.client.HTTPSConnection if self.scheme == "https"
                    else http.client.HTTPConnection)
        conn = conn_cls(self.host, self.port, timeout=self.timeout)
        try:
            conn.request("POST", self.path, body, {"Authorization": self._auth,
                                                   "Content-Type": "application/json"})
            resp = conn.getresponse()
            return resp.status, resp.read(self.max_reply + 1)
        except (OSError, socket.timeout, http.client.HTTPException) as exc:
            raise NodeUnreachable(f"{self!r}: {method}: {exc}") from None
        finally:
            conn.close()

    def _result(self, method: str, req_id: int, reply, status: int, what: str):
        if not isinstance(reply, dict):
            if status != 200:
                raise NodeUnreachable(f"{self!r}: {method}: HTTP {status}")
            raise MalformedReply(f"{what} is not a JSON-RPC object")
        err = reply.get("error")
        if err is not None:
            raise self._error(method, obj(err, f"{what} error"), what)
        if status != 200:
            raise NodeUnreachable(f"{self!r}: {method}: HTTP {status}")
        if "result" not in reply:
            raise MalformedReply(f"{what} has neither a result nor an error")
        if "id" in reply and reply["id"] != req_id:
            raise MalformedReply(f"{what} answers request {reply['id']!r}, not {req_id}")
        return reply["result"]

    def _error(self, method: str, err: dict, what: str) -> Exception:
        code, message = err.get("code"), err.get("message")
        if isinstance(code, bool) or not isinstance(code, int) or not -MAX_CODE <= code < MAX_CODE:
            return MalformedReply(f"{what}: error code {str(code)[:40]!r} is not an integer")
        if not isinstance(message, str):
            return MalformedReply(f"{what}: error message is not a string")
        if code == CODE_IN_WARMUP:
            return NodeUnreachable(f"{self!r}: {method}: the node is starting ({message[:200]})")
        return RpcError(method, code, message[:MAX_MESSAGE])


def _not_found(exc: RpcError, *words: str) -> bool:
    # Core: -5 (RPC_INVALID_ADDRESS_OR_KEY); bcoin 1.0.2: -1 with "Transaction not found." etc.
    return exc.code in (-5, -8) or any(w in exc.message.lower() for w in words)


class Node:
    """Chain queries in Bitcoin Core terms, each answer checked; differences between nodes are
    the probed `capabilities()`."""

    def __init__(self, client: RpcClient, *, accept_timeout: float = ACCEPT_TIMEOUT):
        self.rpc = client
        self.accept_timeout = accept_timeout
        self._caps: capability.Capabilities | None = None

    def __repr__(self) -> str:
        return f"Node({self.rpc!r})"

    @classmethod
    def from_url(cls, url: str, **kw) -> "Node":
        accept = kw.pop("accept_timeout", ACCEPT_TIMEOUT)
        return cls(RpcClient(url, **kw), accept_timeout=accept)

    @classmethod
    def from_config(cls, cfg, url: str | None = None) -> "Node | None":
        """The node `url` names, else the configured one (chain.rpc_url); None when neither."""
        url = url or cfg.chain.rpc_url
        if not url:
            return None
        return cls.from_url(url, cookie_file=cfg.chain.rpc_cookie or None)

    # -- what the node can do ---------------------------------------------------------------

    def capabilities(self, refresh: bool = False) -> capability.Capabilities:
        """Probed once; probed again while something can still change (segwit not yet active,
        a transaction index still building, nothing but genesis to look up)."""
        if self._caps is None or refresh or not self._caps.settled:
            self._caps = capability.probe(self.rpc)
        return self._caps

    def _dialect(self) -> capability.Capabilities:
        # How to ask (block verbosity, testmempoolaccept, mining): that never changes as blocks
        # arrive, so the first probe's answer serves.
        return self._caps or self.capabilities()

    def check_ready(self, network: str | None = None) -> capability.Capabilities:
        """The capabilities, or NodeNotReady saying what is missing and how to fix it."""
        return capability.check_ready(self.capabilities(), network)

    def network(self) -> str:
        """mainnet, testnet, signet or regtest, from getblockchaininfo's `chain`."""
        return capability.chain_network(obj(self.rpc.call("getblockchaininfo"),
                                            "getblockchaininfo"))

    # -- blocks -------------------------------------------------------------------------------

    def height(self) -> int:
        return integer(self.rpc.call("getblockcount"), "getblockcount")

    def block_hash(self, height: int) -> str:
        return hash_hex(self.rpc.call("getblockhash", height), f"getblockhash {height}")

    def header_hex(self, block_hash: str) -> str:
        return hex_bytes(self.rpc.call("getblockheader", block_hash, False),
                         "getblockheader", 80).hex()

    def header(self, block_hash: str) -> dict:
        """The verbose header, with its `height` checked."""
        hdr = obj(self.rpc.call("getblockheader", block_hash, True), "getblockheader")
        integer(key(hdr, "height", "getblockheader"), "getblockheader height")
        return hdr

    def block_height(self, block_hash: str) -> int:
        return self.header(block_hash)["height"]

    def median_time(self) -> int:
        info = obj(self.rpc.call("getblockchaininfo"), "getblockchaininfo")
        return integer(key(info, "mediantime", "getblockchaininfo"), "mediantime", 0, 1 << 40)

    def _decoded_block(self, block_hash: str) -> list:
        if self._dialect().block_verbosity == capability.BLOCK_VERBOSITY_2:
            block = self.rpc.call("getblock", block_hash, 2)
        else:
            block = self.rpc.call("getblock", block_hash, True, True)
        return seq(key(obj(block, "getblock"), "tx", "getblock"), "getblock tx")

    def block_transactions(self, block_hash: str) -> tuple[ChainTx, ...]:
        """The block's transactions, decoded and checked."""
        return tuple(chain_tx(t, f"getblock {block_hash[:16]} tx[{i}]")
                     for i, t in enumerate(self._decoded_block(block_hash)))

    def block_txs(self, block_hash: str) -> list[dict]:
        """The block's transactions as the node's JSON shows them, each checked like
        block_transactions (kept for callers that read the JSON)."""
        txs = self._decoded_block(block_hash)
        for i, t in enumerate(txs):
            chain_tx(t, f"getblock {block_hash[:16]} tx[{i}]")
        return txs

    def invalidate(self, block_hash: str) -> None:
        self.rpc.call("invalidateblock", block_hash)

    def generate_to_script(self, n: int, script: bytes) -> list[str]:
        """Mine n blocks paying to `script` (regtest only), the way the node can."""
        caps = self._dialect()
        if caps.mining == capability.MINE_DESCRIPTOR:
            mined = self.rpc.call("generatetodescriptor", n, f"raw({script.hex()})")
        elif caps.mining == capability.MINE_ADDRESS:
            if len(script) not in (22, 34) or script[0] != 0 or script[1] != len(script) - 2:
                raise ChainError("without generatetodescriptor, mining pays segwit v0 scripts "
                                 "only (an address is needed)")
            mined = self.rpc.call("generatetoaddress", n,
                                  addr.segwit_v0_address(caps.address_hrp, script[2:]))
        else:
            raise ChainError(f"the node ({caps.product}) can mine neither to a descriptor nor to "
                             "an address it accepts (regtest only)")
        return [hash_hex(h, "generated block") for h in seq(mined, "generated blocks")]

    # -- transactions ---------------------------------------------------------------------------

    def tx(self, txid: str) -> ChainTx | None:
        """A transaction by txid (mempool, or chain with a transaction index); None if unknown."""
        try:
            return chain_tx(self.rpc.call("getrawtransaction", txid, True), "getrawtransaction")
        except RpcError as exc:
            if _not_found(exc, "not found", "no such"):
                return None
            raise

    def confirmations(self, txid: str) -> tuple[int, str | None]:
        """(confirmations, block hash); (0, None) in the mempool, (-1, None) when unknown."""
        info = self.tx(txid)
        if info is None:
            return -1, None
        if not info.block_hash:
            return 0, None
        return info.confirmations, info.block_hash

    def in_mempool(self, txid: str) -> bool:
        try:
            obj(self.rpc.call("getmempoolentry", txid), "getmempoolentry")
            return True
        except RpcError as exc:
            if _not_found(exc, "not in mempool", "not found"):
                return False
            raise

    def held(self, txid: str) -> bool:
        """The node has the transaction: in its mempool or in a block."""
        return self.in_mempool(txid) or self.confirmations(txid)[0] >= 1

    def mempool_spender(self, outpoints: set[tuple[str, int]], limit: int) -> str | None:
        """A mempool transaction (among the first `limit`) spending one of `outpoints`."""
        for i, txid in enumerate(seq(self.rpc.call("getrawmempool"), "getrawmempool")[:limit]):
            tx = self.tx(hash_hex(txid, f"getrawmempool[{i}]"))
            if tx is not None and any((x.txid, x.vout) in outpoints for x in tx.inputs):
                return tx.txid
        return None

    def unspent(self, txid: str, vout: int) -> Unspent | None:
        """gettxout including the mempool: None when spent (also by a mempool transaction) or
        unknown."""
        return unspent(self.rpc.call("gettxout", txid, vout, True), f"gettxout {txid[:16]}:{vout}")

    def txout(self, txid: str, vout: int) -> dict | None:
        """gettxout as the node's JSON shows it, checked like unspent()."""
        raw = self.rpc.call("gettxout", txid, vout, True)
        unspent(raw, f"gettxout {txid[:16]}:{vout}")
        return raw

    def txout_proof(self, txid: str, block_hash: str) -> str:
        return hex_bytes(self.rpc.call("gettxoutproof", [txid], block_hash), "gettxoutproof").hex()

    # -- fees -----------------------------------------------------------------------------------

    def relay_fees(self) -> RelayFees:
        """The node's relay fee, current mempool minimum and incremental relay fee (sat/kvB);
        the constants of dta.anchor.fees only for figures the node does not report."""
        net = obj(self.rpc.call("getnetworkinfo"), "getnetworkinfo")
        pool = obj(self.rpc.call("getmempoolinfo"), "getmempoolinfo")
        defaults = []

        def pick(name, fallback, *where, zero_is_missing=False):
            for method, reply, field in where:
                if field in reply:
                    value = rate(reply[field], f"{method} {field}")
                    if value or not zero_is_missing:
                        return value
            defaults.append(name)
            return fallback

        min_relay = pick("min_relay", DEFAULT_MIN_RELAY, ("getmempoolinfo", pool, "minrelaytxfee"),
                         ("getnetworkinfo", net, "relayfee"))
        mempool_min = pick("mempool_min", min_relay, ("getmempoolinfo", pool, "mempoolminfee"))
        # 0 is what a node without replacement reports (bcoin 1.0.2): it says nothing about the
        # rule its peers apply to our replacements.
        incremental = pick("incremental", DEFAULT_INCREMENTAL,
                           ("getmempoolinfo", pool, "incrementalrelayfee"),
                           ("getnetworkinfo", net, "incrementalfee"), zero_is_missing=True)
        return RelayFees(min_relay, mempool_min, incremental, tuple(defaults))

    def fee_rate(self, target_blocks: int) -> int | None:
        """The node's estimate in sat/kvB, or None when it has none (fresh regtest, bcoin -1)."""
        try:
            res = obj(self.rpc.call("estimatesmartfee", target_blocks), "estimatesmartfee")
        except RpcError:
            return None
        value = res.get("feerate", res.get("fee"))
        if value is None or (isinstance(value, (int, Decimal)) and not isinstance(value, bool)
                             and value <= 0):
            return None
        return rate(value, "estimatesmartfee feerate") or None

    # -- sending --------------------------------------------------------------------------------

    def send(self, raw_hex: str, *, rivals: tuple[str, ...] = ()) -> str:
        """Hand the node a signed transaction; its txid once the node holds it (also when it
        already did). TxRefused, with the node's reason classified, when it does not. `rivals`:
        other transactions of the caller's spending the same inputs, which a node that does not
        say why it refuses may be holding instead."""
        raw = hex_bytes(raw_hex, "transaction")
        try:
            txid = bitcoin.reverse(bitcoin.parse_tx(raw).txid).hex()
        except DecodeError as exc:
            raise ChainError(f"not a transaction: {exc}") from None
        caps = self._dialect()
        if caps.test_accept:
            self._test_accept(raw_hex, txid)
        try:
            got = self.rpc.call("sendrawtransaction", raw_hex)
        except RpcError as exc:
            found = refusals.classify(exc.message, exc.code)
            if found.kind == refusals.ALREADY_KNOWN:
                return txid
            raise refusals.TxRefused(txid, found) from None
        if hash_hex(got, "sendrawtransaction") != txid:
            raise MalformedReply(f"sendrawtransaction answered txid {str(got)[:64]} for {txid}")
        if not caps.test_accept:
            self._await_admission(raw, txid, tuple(rivals))
        return txid

    def _test_accept(self, raw_hex: str, txid: str) -> None:
        verdicts = seq(self.rpc.call("testmempoolaccept", [raw_hex]), "testmempoolaccept")
        if len(verdicts) != 1:
            raise MalformedReply(f"testmempoolaccept answered {len(verdicts)} verdicts for one")
        verdict = obj(verdicts[0], "testmempoolaccept[0]")
        if hash_hex(key(verdict, "txid", "testmempoolaccept[0]"), "txid") != txid:
            raise MalformedReply("testmempoolaccept answered about another transaction")
        allowed = key(verdict, "allowed", "testmempoolaccept[0]")
        if allowed is True:
            return
        if allowed is not False:
            raise MalformedReply("testmempoolaccept[0] allowed is not true or false")
        reason = text(key(verdict, "reject-reason", "testmempoolaccept[0]"), "reject-reason")
        found = refusals.classify(reason)
        if found.kind != refusals.ALREADY_KNOWN:
            raise refusals.TxRefused(txid, found)

    def _await_admission(self, raw: bytes, txid: str, rivals: tuple[str, ...]) -> None:
        # The node answered before deciding and will not say why it refuses: watch for the
        # transaction, and for anything in the node's state that already explains its absence.
        deadline = time.monotonic() + self.accept_timeout
        while not self.held(txid):
            waited = None if time.monotonic() < deadline else self.accept_timeout
            found = refusals.diagnose(self, raw, waited=waited, rivals=rivals)
            if found is not None and not self.held(txid):
                raise refusals.TxRefused(txid, found)
            time.sleep(ADMISSION_POLL)
