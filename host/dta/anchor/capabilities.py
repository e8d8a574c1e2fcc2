"""What a node can do, probed from its answers, never from its product name.

Each difference between Bitcoin Core's RPC and another node's is one named capability here,
probed once by asking the node something harmless, and `dta.anchor.rpc.Node` branches on the
capability alone (docs/anchoring.md, "Node capabilities"):

- block_verbosity: decoded blocks by `getblock HASH 2` (Core) or `getblock HASH true true`
  (bcoin 1.0.2), whichever the node answers with decoded transactions;
- tx_index: `getindexinfo` reports a synced `txindex` (Core >= 0.21), or, for a node without
  getindexinfo, `getrawtransaction` finds block 1's coinbase by its txid alone (the lookup a
  confirmed anchor needs); anything else is refused at start;
- test_accept: `testmempoolaccept` exists, so the node says why it refuses a transaction
  before it is sent; without it, sendrawtransaction is followed by a lookup and a refusal's
  reason is inferred from the node's state (dta.anchor.refusal);
- segwit: active per `getdeploymentinfo` (Core >= 23), `getblockchaininfo.softforks` (Core
  0.19-22) or its `bip9_softforks` (bcoin, older Core);
- mining (regtest only): `generatetodescriptor` with a raw() script, else `generatetoaddress`
  with the bech32 prefix the node's `validateaddress` accepts (bcrt1 on Core, rb1 on bcoin 1.0.2).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from dta.anchor import address as addr
from dta.anchor.replies import MalformedReply, hash_hex, integer, key, obj, seq, text
from dta.errors import ChainError, RpcError
from dtacore import network as networks

BLOCK_VERBOSITY_2 = "getblock HASH 2"
BLOCK_VERBOSE_DETAILS = "getblock HASH true true"

TX_INDEX_REPORTED = "getindexinfo"   # getindexinfo reports a synced txindex
TX_INDEX_LOOKUP = "lookup"           # no getindexinfo; a confirmed tx was found by txid alone
TX_INDEX_BUILDING = "building"       # getindexinfo reports a txindex still syncing
TX_INDEX_NONE = "none"
TX_INDEX_UNKNOWN = "unknown"         # only the genesis block exists: nothing to look up yet

MINE_DESCRIPTOR = "generatetodescriptor"
MINE_ADDRESS = "generatetoaddress"

# JSON-RPC's "method not found"; any other error means the method exists.
METHOD_NOT_FOUND = -32601
# bcoin 1.0.2's regtest prefix; Core's per network is in dtacore.network.
BCOIN_REGTEST_HRP = "rb"
# A P2WPKH program nobody holds a key for: the script the address and mining probes use.
PROBE_PROGRAM = bytes(20)
PROBE_SCRIPT = b"\x00\x14" + PROBE_PROGRAM
# BIP 9 on a regtest chain that activates segwit by signalling (bcoin 1.0.2's): three periods of
# 144 blocks (started, locked in, active).
BIP9_REGTEST_SEGWIT_HEIGHT = 432


class NodeNotReady(ChainError):
    """The node lacks something anchoring needs; the message says what and how to fix it."""


@dataclass(frozen=True)
class Capabilities:
    product: str              # getnetworkinfo subversion: shown in messages, never branched on
    network: str              # mainnet, testnet, signet or regtest
    height: int
    block_verbosity: str
    tx_index: str
    test_accept: bool
    segwit_active: bool | None  # None: the node does not say
    segwit_status: str
    mining: str | None = None   # regtest only
    address_hrp: str | None = None

    @property
    def settled(self) -> bool:
        """Nothing here changes as blocks arrive (worth keeping for the node's lifetime)."""
        return (self.segwit_active is not False
                and self.tx_index not in (TX_INDEX_BUILDING, TX_INDEX_UNKNOWN))

    def as_dict(self) -> dict:
        return asdict(self)


def _exists(rpc, method: str, *params):
    """(True, result) if the node knows `method`; (True, None) if it refused these params."""
    try:
        return True, rpc.call(method, *params)
    except RpcError as exc:
        if exc.code == METHOD_NOT_FOUND:
            return False, None
        return True, None


def _decoded(block, what: str) -> bool:
    block = obj(block, what)
    txs = seq(key(block, "tx", what), f"{what} tx")
    return bool(txs) and all(isinstance(t, dict) for t in txs)


def _block_verbosity(rpc, genesis: str) -> str:
    for style, params in ((BLOCK_VERBOSITY_2, (genesis, 2)),
                          (BLOCK_VERBOSE_DETAILS, (genesis, True, True))):
        try:
            if _decoded(rpc.call("getblock", *params), f"getblock {params[1:]}"):
                return style
        except (RpcError, MalformedReply):
            continue
    raise NodeNotReady("the node answers neither `getblock HASH 2` nor `getblock HASH true true` "
                       "with decoded transactions: anchors and funding cannot be found in blocks")


def _tx_lookup(rpc, height: int, verbosity: str) -> str:
    if height < 1:
        return TX_INDEX_UNKNOWN
    block = rpc.call("getblock", hash_hex(rpc.call("getblockhash", 1), "getblockhash 1"),
                     *((2,) if verbosity == BLOCK_VERBOSITY_2 else (True, True)))
    first = obj(seq(key(obj(block, "getblock"), "tx", "getblock"), "getblock tx")[0],
                "getblock tx[0]")
    txid = hash_hex(key(first, "txid", "getblock tx[0]"), "getblock tx[0] txid")
    try:
        found = rpc.call("getrawtransaction", txid, True)
    except RpcError:
        return TX_INDEX_NONE
    return TX_INDEX_LOOKUP if isinstance(found, dict) and found.get("txid") == txid \
        else TX_INDEX_NONE


def _tx_index(rpc, height: int, verbosity: str) -> str:
    known, info = _exists(rpc, "getindexinfo")
    if not known:
        return _tx_lookup(rpc, height, verbosity)
    index = obj(info if info is not None else {}, "getindexinfo").get("txindex")
    if index is None:
        return TX_INDEX_NONE
    return TX_INDEX_REPORTED if obj(index, "getindexinfo txindex").get("synced") is True \
        else TX_INDEX_BUILDING


def _segwit(rpc, chain_info: dict) -> tuple[bool | None, str]:
    known, dep = _exists(rpc, "getdeploymentinfo")
    if known and dep is not None:
        seg = obj(key(obj(dep, "getdeploymentinfo"), "deployments", "getdeploymentinfo"),
                  "getdeploymentinfo deployments").get("segwit")
        if isinstance(seg, dict) and isinstance(seg.get("active"), bool):
            return seg["active"], "active" if seg["active"] else "not active"
    forks = chain_info.get("softforks")
    if isinstance(forks, dict) and isinstance(forks.get("segwit"), dict) \
            and isinstance(forks["segwit"].get("active"), bool):
        return forks["segwit"]["active"], "active" if forks["segwit"]["active"] else "not active"
    bip9 = chain_info.get("bip9_softforks")
    if isinstance(bip9, dict) and isinstance(bip9.get("segwit"), dict) \
            and isinstance(bip9["segwit"].get("status"), str):
        status = bip9["segwit"]["status"]
        return status == "active", f"BIP 9 status {status[:20]!r}"
    return None, "unknown"


def _address_hrp(rpc, network: str) -> str | None:
    hrps = [networks.by_name(network).bech32_hrp] + ([BCOIN_REGTEST_HRP]
                                                     if network == "regtest" else [])
    for hrp in hrps:
        try:
            got = obj(rpc.call("validateaddress", addr.segwit_v0_address(hrp, PROBE_PROGRAM)),
                      "validateaddress")
        except RpcError:
            continue
        script = got.get("scriptPubKey")
        if got.get("isvalid") is True and script in (None, PROBE_SCRIPT.hex()):
            return hrp
    return None


def _mining(rpc, hrp: str | None) -> str | None:
    known, mined = _exists(rpc, "generatetodescriptor", 0, f"raw({PROBE_SCRIPT.hex()})")
    if known and mined == []:
        return MINE_DESCRIPTOR
    return MINE_ADDRESS if hrp else None


def network_name(chain: str) -> str:
    """getblockchaininfo's `chain` as a network name."""
    return {"main": "mainnet", "test": "testnet", "testnet4": "testnet"}.get(chain, chain)


def chain_network(info) -> str:
    """The network a getblockchaininfo reply names (mainnet, testnet, signet or regtest), or
    MalformedReply for a chain this D-TA does not know."""
    network = network_name(text(key(info, "chain", "getblockchaininfo"), "chain", 32))
    if networks.by_name(network) is None:
        raise MalformedReply(f"getblockchaininfo names an unknown chain {network[:32]!r}")
    return network


def probe(rpc) -> Capabilities:
    """Ask the node (a dta.anchor.rpc.RpcClient) what it can do."""
    product = text(obj(rpc.call("getnetworkinfo"), "getnetworkinfo").get("subversion", "?"),
                   "getnetworkinfo subversion", 200)
    info = obj(rpc.call("getblockchaininfo"), "getblockchaininfo")
    network = chain_network(info)
    height = integer(rpc.call("getblockcount"), "getblockcount")
    verbosity = _block_verbosity(rpc, hash_hex(rpc.call("getblockhash", 0), "getblockhash 0"))
    segwit, status = _segwit(rpc, info)
    test_accept = _exists(rpc, "testmempoolaccept", [])[0]
    hrp = _address_hrp(rpc, network) if network == "regtest" else None
    mining = _mining(rpc, hrp) if network == "regtest" else None
    return Capabilities(product, network, height, verbosity,
                        _tx_index(rpc, height, verbosity), test_accept, segwit, status,
                        mining, hrp)


def problems(caps: Capabilities, network: str | None) -> list[str]:
    """What keeps this node from anchoring for a D-TA on `network`, one sentence each."""
    out = []
    if network is not None and caps.network != network:
        out.append(f"the node is on {caps.network}, this D-TA anchors on {network}; refusing to "
                   "anchor on the wrong chain")
    if caps.tx_index == TX_INDEX_NONE:
        out.append(f"the node ({caps.product}) has no transaction index: confirmed anchors "
                   "could not be found by txid and would be sent again every round. Restart it "
                   "with txindex=1 in bitcoin.conf (Bitcoin Core) or --index-tx (bcoin)")
    elif caps.tx_index == TX_INDEX_BUILDING:
        out.append("the node's transaction index is still being built: wait until "
                   "`getindexinfo` reports txindex synced")
    if caps.segwit_active is False:
        hint = ""
        if caps.network == "regtest" and caps.height < BIP9_REGTEST_SEGWIT_HEIGHT:
            hint = (f"; a regtest chain that activates segwit by BIP 9 (bcoin 1.0.2's) enforces "
                    f"it from height {BIP9_REGTEST_SEGWIT_HEIGHT}: mine "
                    f"{BIP9_REGTEST_SEGWIT_HEIGHT - caps.height} more blocks")
        out.append(f"segwit is not active on this node yet ({caps.segwit_status} at height "
                   f"{caps.height}), so it would refuse every anchor (they spend P2WPKH){hint}")
    return out


def check_ready(caps: Capabilities, network: str | None) -> Capabilities:
    found = problems(caps, network)
    if found:
        raise NodeNotReady("; ".join(found))
    return caps
