"""A node that answers garbage: every malformed reply is a typed error (MalformedReply, or
RpcError / NodeUnreachable where the reply says so), never a raw Python exception. A local
JSON-RPC stand-in on 127.0.0.1 serves each reply; recorded Core answers fill in the rest."""

import json
import random
from decimal import Decimal

import pytest

from dta.anchor import history
from dta.anchor.replies import MalformedReply
from dta.anchor.rpc import Node, RpcClient
from dta.errors import ChainError, NodeUnreachable, RpcError
from tests.fixtures.chain import DOWN, RpcStandIn, err, ok

TXID = "ab" * 32
GOOD_TX = {"txid": TXID, "vin": [{"txid": "cd" * 32, "vout": 1, "sequence": 4294967293,
                                  "txinwitness": ["30" * 71, "02" + "11" * 32]}],
           "vout": [{"value": Decimal("0"), "n": 0, "scriptPubKey": {"hex": "6a0568656c6c6f"}},
                    {"value": Decimal("12.49999874"), "n": 1,
                     "scriptPubKey": {"hex": "0014" + "22" * 20}}],
           "blockhash": "ef" * 32, "confirmations": 3}


@pytest.fixture
def standin():
    with RpcStandIn() as s:
        s.answer_recorded("core27_regtest")
        yield s


def node_of(standin) -> Node:
    return Node.from_url(standin.url, timeout=5)


@pytest.mark.parametrize("body", [
    b'{"result": null, "error": "boom"}',
    b'{"result": null, "error": ["boom"]}',
    b'{"result": null, "error": {"code": "x", "message": "m"}}',
    b'{"result": null, "error": {"code": 1e999, "message": "m"}}',
    b'{"result": null, "error": {"code": 1.5, "message": "m"}}',
    b'{"result": null, "error": {"code": true, "message": "m"}}',
    b'{"result": null, "error": {"code": 99999999999, "message": "m"}}',
    b'{"result": null, "error": {"code": -1, "message": 7}}',
    b'{"result": null, "error": {"code": NaN, "message": "m"}}',
    b'{"result": Infinity, "error": null}',
    b'{"result": null}',
    b'{"result": {}}',
    b'{"result": "12"}',
    b'{"result": -1}',
    b'{"result": true}',
    b'{"error": null}',
    b'{"result": 5, "error": null, "id": 999}',
    b'[]',
    b'"just a string"',
    b'not json at all',
    b'\xff\xfe',
    b'[' * 200 + b']' * 200,
], ids=lambda b: b[:40].decode(errors="replace"))
def test_malformed_replies_are_malformed_reply(standin, body):
    standin.answer("getblockcount", body)
    with pytest.raises(MalformedReply):
        node_of(standin).height()


def test_error_replies_and_http_failures_are_typed(standin):
    standin.answer("getblockcount", err(-1, "boom"))
    with pytest.raises(RpcError) as info:
        node_of(standin).height()
    assert (info.value.code, info.value.message) == (-1, "boom")
    standin.answer("getblockcount", err(-28, "Loading block index..."))
    with pytest.raises(NodeUnreachable, match="the node is starting"):
        node_of(standin).height()
    standin.answer("getblockcount", (502, b"<html>Bad Gateway</html>"))
    with pytest.raises(NodeUnreachable, match="HTTP 502"):
        node_of(standin).height()
    standin.answer("getblockcount", DOWN)
    with pytest.raises(NodeUnreachable):
        node_of(standin).height()
    standin.answer("getblockcount", (401, b""))
    with pytest.raises(ChainError, match="authentication failed"):
        node_of(standin).height()


def test_a_reply_over_the_size_limit_is_refused(standin):
    standin.answer("getblockcount", ok("x" * 5000))
    client = RpcClient(standin.url, max_reply=1000)
    with pytest.raises(MalformedReply, match="over its 1000-byte limit"):
        client.call("getblockcount")


def _without(obj, path):
    obj = json.loads(json.dumps(obj, default=str))
    target = obj
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return obj


def _with(obj, path, value):
    obj = json.loads(json.dumps(obj, default=str))
    target = obj
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return obj


BAD_TXS = [
    ("no-txid", _without(GOOD_TX, ["txid"])),
    ("no-vin", _without(GOOD_TX, ["vin"])),
    ("no-vout", _without(GOOD_TX, ["vout"])),
    ("empty-vin", _with(GOOD_TX, ["vin"], [])),
    ("vin-not-list", _with(GOOD_TX, ["vin"], {"txid": TXID})),
    ("vin-no-sequence", _without(GOOD_TX, ["vin", 0, "sequence"])),
    ("vin-no-vout", _without(GOOD_TX, ["vin", 0, "vout"])),
    ("vin-vout-string", _with(GOOD_TX, ["vin", 0, "vout"], "1")),
    ("vin-short-txid", _with(GOOD_TX, ["vin", 0, "txid"], "ab")),
    ("witness-not-hex", _with(GOOD_TX, ["vin", 0, "txinwitness"], ["zz"])),
    ("vout-no-value", _without(GOOD_TX, ["vout", 1, "value"])),
    ("vout-value-string", _with(GOOD_TX, ["vout", 1, "value"], "12.5")),
    ("vout-value-negative", _with(GOOD_TX, ["vout", 1, "value"], -1)),
    ("vout-value-sub-satoshi", _with(GOOD_TX, ["vout", 1, "value"], 1e-9)),
    ("vout-value-over-21m", _with(GOOD_TX, ["vout", 1, "value"], 21_000_001)),
    ("vout-no-script", _without(GOOD_TX, ["vout", 1, "scriptPubKey"])),
    ("vout-script-odd-hex", _with(GOOD_TX, ["vout", 1, "scriptPubKey", "hex"], "001")),
    ("vout-misnumbered", _with(GOOD_TX, ["vout", 1, "n"], 5)),
    ("blockhash-short", _with(GOOD_TX, ["blockhash"], "ef")),
    ("confirmations-string", _with(GOOD_TX, ["confirmations"], "3")),
    ("not-an-object", ["a", "list"]),
]


def test_a_good_transaction_decodes(standin):
    standin.answer("getrawtransaction", ok(GOOD_TX))
    tx = node_of(standin).tx(TXID)
    assert tx.txid == TXID and tx.outputs[1].value == 1_249_999_874
    assert tx.inputs[0].witness[1] == bytes.fromhex("02" + "11" * 32)
    assert node_of(standin).confirmations(TXID) == (3, "ef" * 32)


@pytest.mark.parametrize("name,bad", BAD_TXS, ids=[n for n, _ in BAD_TXS])
def test_missing_keys_in_transactions_and_blocks(standin, name, bad):
    standin.answer("getrawtransaction", ok(bad))
    with pytest.raises(MalformedReply):
        node_of(standin).tx(TXID)
    with pytest.raises(MalformedReply):
        node_of(standin).confirmations(TXID)
    block = {"hash": "ef" * 32, "height": 1, "tx": [bad]}
    standin.answer("getblock", ok(block), params=["ef" * 32, 2])
    with pytest.raises(MalformedReply):
        node_of(standin).block_transactions("ef" * 32)
    standin.answer("getblockhash", ok("ef" * 32), params=[1])
    standin.answer("getblockcount", ok(1))
    with pytest.raises(MalformedReply):
        history.walk(node_of(standin), bytes(32), from_height=1)


@pytest.mark.parametrize("reply", [ok({}), ok({"tx": "nope"}), ok({"tx": [None]}), ok([]),
                                   ok(None)], ids=str)
def test_malformed_blocks(standin, reply):
    standin.answer("getblock", reply, params=["ef" * 32, 2])
    with pytest.raises(MalformedReply):
        node_of(standin).block_transactions("ef" * 32)
    with pytest.raises(MalformedReply):
        node_of(standin).block_txs("ef" * 32)


def test_malformed_fee_answers(standin):
    node = node_of(standin)
    for reply, want in ((ok({"feerate": Decimal("0.00002000")}), 2000), (ok({"fee": -1}), None),
                        (ok({"errors": ["Insufficient data"]}), None), (err(-32601, "x"), None)):
        standin.answer("estimatesmartfee", reply)
        assert node.fee_rate(6) == want
    for reply in (ok({"feerate": "fast"}), ok([]), ok({"feerate": Decimal("1e30")})):
        standin.answer("estimatesmartfee", reply)
        with pytest.raises(MalformedReply):
            node.fee_rate(6)
    standin.answer("getmempoolinfo", ok({"mempoolminfee": "lots"}))
    with pytest.raises(MalformedReply):
        node.relay_fees()
    standin.answer("getmempoolinfo", ok({}))
    standin.answer("getnetworkinfo", ok({"subversion": "/x/"}))
    fees = node.relay_fees()  # nothing reported: the documented fallbacks, and said so
    assert fees.defaults == ("min_relay", "mempool_min", "incremental") and fees.floor == 1000


def _random_json(rng: random.Random, depth: int = 0):
    kinds = ["null", "bool", "int", "float", "str", "hex"] + (["list", "dict"] if depth < 3
                                                              else [])
    kind = rng.choice(kinds)
    if kind == "null":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "int":
        return rng.choice([0, 1, -1, 2**31, 2**64, rng.randint(-10**6, 10**6)])
    if kind == "float":
        return Decimal(str(rng.uniform(-1e3, 1e3)))
    if kind == "str":
        return rng.choice(["", "x", "txid", "vout", "0" * 63])
    if kind == "hex":
        return rng.randbytes(rng.choice([0, 1, 20, 32, 80])).hex()
    if kind == "list":
        return [_random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    keys = ["txid", "vin", "vout", "n", "value", "scriptPubKey", "hex", "sequence", "tx",
            "height", "blockhash", "confirmations", "feerate", "mempoolminfee", "coinbase"]
    return {rng.choice(keys): _random_json(rng, depth + 1) for _ in range(rng.randint(0, 5))}


QUERIES = [
    ("getblockcount", lambda n: n.height()),
    ("getblockhash", lambda n: n.block_hash(1)),
    ("getblockheader", lambda n: n.header_hex("ef" * 32)),
    ("getblock", lambda n: n.block_transactions("ef" * 32)),
    ("getrawtransaction", lambda n: n.tx(TXID)),
    ("getmempoolentry", lambda n: n.in_mempool(TXID)),
    ("gettxout", lambda n: n.unspent(TXID, 0)),
    ("gettxout", lambda n: n.txout(TXID, 0)),
    ("gettxoutproof", lambda n: n.txout_proof(TXID, "ef" * 32)),
    ("estimatesmartfee", lambda n: n.fee_rate(6)),
    ("getmempoolinfo", lambda n: n.relay_fees()),
    ("getblockchaininfo", lambda n: n.network()),
]


@pytest.mark.parametrize("method,query", QUERIES, ids=[m for m, _ in QUERIES])
def test_random_replies_never_escape_as_raw_exceptions(standin, method, query):
    rng = random.Random(method)
    node = node_of(standin)
    for _ in range(60):
        standin.answer(method, ok(_random_json(rng)))
        try:
            query(node)
        except ChainError:
            pass  # MalformedReply (or RpcError): typed, named, nothing changed
