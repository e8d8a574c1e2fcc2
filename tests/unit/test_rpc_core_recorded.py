"""The branches only a Bitcoin Core-style node takes, against RECORDED Core 27 answers
(tests/vectors/core_rpc/, written in the form Core's RPC documentation gives them: no Core
binary can be installed here). A local JSON-RPC stand-in serves them over HTTP on 127.0.0.1;
the same code runs against the real bcoin node in tests/integration/test_anchor_node.py."""

import copy
import json
import os
from decimal import Decimal

import pytest

from dta.anchor import capabilities as caps
from dta.anchor import refusal as refusals
from dta.anchor.anchorer import Anchorer
from dta.anchor.replies import MalformedReply
from dta.anchor.rpc import Node
from dta.anchor.store import PENDING, UNCONFIRMED, AnchorStore
from dta.anchor.tx import Outpoint, build_anchor
from dta.signing import Signer
from dtacore import bitcoin
from tests.fixtures.chain import CORE_VECTORS, RpcStandIn, err, ok

GENESIS = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
GENESIS_COINBASE = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"
REFUSALS = json.loads((CORE_VECTORS / "core27_refusals.json").read_text())
SCRIPT = bytes.fromhex("0014" + "ab" * 20)


@pytest.fixture
def core():
    """A stand-in answering as a fresh Core 27 regtest node with -txindex (recorded)."""
    with RpcStandIn() as standin:
        standin.answer_recorded("core27_regtest")
        yield standin


def some_tx(fee_rate=1000, locktime=0) -> bytes:
    signer = Signer(os.urandom(32))
    funding = Outpoint(os.urandom(32).hex(), 0, 100_000)
    return build_anchor(signer, funding, b"D-TA test", fee_rate, locktime=locktime).raw


def txids(raw: bytes) -> tuple[str, str]:
    txid = bitcoin.reverse(bitcoin.parse_tx(raw).txid).hex()
    wtxid = bitcoin.reverse(bitcoin.sha256d(raw)).hex()
    return txid, wtxid


def test_recorded_capabilities_take_every_core_branch(core):
    node = Node.from_url(core.url)
    c = node.check_ready("regtest")
    assert c.product == "/Satoshi:27.0.0/" and c.network == "regtest"
    assert c.block_verbosity == caps.BLOCK_VERBOSITY_2
    assert c.tx_index == caps.TX_INDEX_REPORTED
    assert c.test_accept is True
    assert c.segwit_active is True and c.segwit_status == "active"  # from getdeploymentinfo
    assert c.mining == caps.MINE_DESCRIPTOR and c.address_hrp == "bcrt"
    # the bool-pair getblock of bcoin was never needed, nor the lookup-based index probe
    assert [p for p in core.called("getblock") if len(p) == 3] == []
    assert core.called("getrawtransaction") == []


def test_recorded_block_at_verbosity_2(core):
    node = Node.from_url(core.url)
    (coinbase,) = node.block_transactions(node.block_hash(0))
    assert coinbase.txid == GENESIS_COINBASE and coinbase.coinbase
    assert coinbase.outputs[0].value == 50 * 100_000_000
    assert coinbase.outputs[0].script.hex().startswith("4104678afd")
    assert core.called("getblock")[-1] == [GENESIS, 2]
    # Core refuses the genesis coinbase by txid: unknown, not an error
    assert node.tx(GENESIS_COINBASE) is None and node.confirmations(GENESIS_COINBASE) == (-1, None)


def test_recorded_mining_by_descriptor(core):
    core.answer("generatetodescriptor", ok(["11" * 32]), params=[1, f"raw({SCRIPT.hex()})"])
    assert Node.from_url(core.url).generate_to_script(1, SCRIPT) == ["11" * 32]
    assert core.called("generatetoaddress") == []


def test_recorded_node_without_txindex_is_refused_with_the_fix(core):
    core.answer("getindexinfo", ok({}))
    with pytest.raises(caps.NodeNotReady, match="no transaction index.*txindex=1"):
        Node.from_url(core.url).check_ready("regtest")
    core.answer("getindexinfo", ok({"txindex": {"synced": False, "best_block_height": 0}}))
    with pytest.raises(caps.NodeNotReady, match="still being built"):
        Node.from_url(core.url).check_ready("regtest")


def test_recorded_core_0_19_softforks_and_wrong_network(core):
    core.answer("getdeploymentinfo", err(-32601, "Method not found"))
    info = copy.deepcopy(core._script("getblockchaininfo", [])["result"])
    info["softforks"] = {"segwit": {"type": "buried", "active": False, "height": 0}}
    core.answer("getblockchaininfo", ok(info))
    with pytest.raises(caps.NodeNotReady) as exc:
        Node.from_url(core.url).check_ready("mainnet")
    assert "the node is on regtest, this D-TA anchors on mainnet" in str(exc.value)
    assert "segwit is not active on this node yet (not active at height 0)" in str(exc.value)


@pytest.mark.parametrize("case", REFUSALS["sendrawtransaction"],
                         ids=[c["message"][:30] for c in REFUSALS["sendrawtransaction"]])
def test_recorded_sendrawtransaction_errors_are_classified(core, case):
    raw = some_tx()
    txid, wtxid = txids(raw)
    core.answer("testmempoolaccept", ok([{"txid": txid, "wtxid": wtxid, "allowed": True}]))
    core.answer("sendrawtransaction", err(case["code"], case["message"]))
    node = Node.from_url(core.url)
    assert refusals.classify(case["message"], case["code"]).kind == case["class"]
    if case["class"] == refusals.ALREADY_KNOWN:
        assert node.send(raw.hex()) == txid
        return
    with pytest.raises(refusals.TxRefused) as info:
        node.send(raw.hex())
    ref = info.value.refusal
    assert (ref.kind, ref.reason, ref.code, ref.inferred) == (case["class"], case["message"],
                                                              case["code"], False)
    assert case["message"] in str(info.value) and "the node's reason" in str(info.value)


def _verdict(template: dict, txid: str, wtxid: str) -> dict:
    text = json.dumps(template).replace("$TXID", txid).replace("$WTXID", wtxid)
    return json.loads(text)


@pytest.mark.parametrize("case", REFUSALS["testmempoolaccept"],
                         ids=[str(c["class"]) for c in REFUSALS["testmempoolaccept"]])
def test_recorded_testmempoolaccept_verdicts(core, case):
    raw = some_tx()
    txid, wtxid = txids(raw)
    core.answer("testmempoolaccept", ok([_verdict(case["verdict"], txid, wtxid)]),
                params=[[raw.hex()]])
    core.answer("sendrawtransaction", ok(txid))
    node = Node.from_url(core.url)
    if case["class"] in (None, refusals.ALREADY_KNOWN):
        assert node.send(raw.hex()) == txid
        assert core.called("sendrawtransaction") == [[raw.hex()]]
        return
    with pytest.raises(refusals.TxRefused) as info:
        node.send(raw.hex())
    assert info.value.refusal.kind == case["class"]
    assert info.value.refusal.reason == case["verdict"]["reject-reason"]
    assert core.called("sendrawtransaction") == []  # refused before anything was sent


def test_recorded_verdict_about_another_transaction_is_malformed(core):
    raw = some_tx()
    core.answer("testmempoolaccept", ok([{"txid": "22" * 32, "wtxid": "22" * 32,
                                          "allowed": True}]))
    with pytest.raises(MalformedReply, match="another transaction"):
        Node.from_url(core.url).send(raw.hex())
    assert core.called("sendrawtransaction") == []


def test_recorded_relay_fees_and_a_full_mempool(core):
    node = Node.from_url(core.url)
    fees = node.relay_fees()
    assert (fees.min_relay, fees.mempool_min, fees.incremental, fees.defaults) == (
        1000, 1000, 1000, ())
    core.answer_recorded("core27_full_mempool")
    assert node.relay_fees().floor == 5220


def anchorer(tmp_path, node, **kw) -> Anchorer:
    signer = Signer(os.urandom(32))
    a = Anchorer(AnchorStore(tmp_path / "anchors.sqlite3"), signer, bytes(32), node,
                 network="regtest", **kw)
    a.set_funding(Outpoint("33" * 32, 0, 10_000_000))
    a.submit_birth()
    return a


def accept_all(standin, refuse=None, *, at: int = 0):
    """testmempoolaccept: allowed for every transaction, except the `at`-th one tested, which
    is refused with the reject reason `refuse`; what sendrawtransaction took is then in the
    mempool (getmempoolentry)."""
    state = {"tested": 0, "held": set()}

    def verdict(params):
        if not params[0]:  # the capability probe: Core's answer to an empty array
            return err(-8, "Array must contain between 1 and 25 transactions.")
        txid, wtxid = txids(bytes.fromhex(params[0][0]))
        state["tested"] += 1
        if refuse and state["tested"] == at + 1:
            return ok([{"txid": txid, "wtxid": wtxid, "allowed": False, "reject-reason": refuse}])
        return ok([{"txid": txid, "wtxid": wtxid, "allowed": True}])

    def send(params):
        txid = txids(bytes.fromhex(params[0]))[0]
        state["held"].add(txid)
        return ok(txid)

    def entry(params):
        if params[0] in state["held"]:
            return ok({"vsize": 159, "fees": {"base": Decimal("0.00000159")}})
        return err(-5, "Transaction not in mempool")

    standin.answer("testmempoolaccept", verdict)
    standin.answer("sendrawtransaction", send)
    standin.answer("getmempoolentry", entry)


def test_anchorer_pays_the_recorded_full_mempool_floor(core, tmp_path):
    core.answer_recorded("core27_full_mempool")
    accept_all(core)
    a = anchorer(tmp_path, Node.from_url(core.url), fee_floor=1000)
    out = a.step()
    row = a.store.get(0)
    assert out["node"] == "ok" and row.state == UNCONFIRMED, out["events"]
    assert row.current["fee_rate"] >= 5220 and row.current["fee"] >= -(-5220 * row.current[
        "vsize"] // 1000)
    names = [m for m, _ in core.calls]
    assert names.index("testmempoolaccept", names.index("getmempoolinfo")) < names.index(
        "sendrawtransaction")


def test_anchorer_fee_too_low_is_resigned_higher(core, tmp_path):
    accept_all(core, refuse="min relay fee not met")
    a = anchorer(tmp_path, Node.from_url(core.url))
    out = a.step()
    row = a.store.get(0)
    assert out["node"] == "refused" and row.state == PENDING
    assert row.refusal["kind"] == "fee too low" and "min relay fee not met" in out["events"][-1]
    assert "re-signing at the node's current floor" in out["events"][-1]
    a.submit_checkpoint(1, 1, b"\x01" * 32)
    assert a.store.get(1).candidates == []  # nothing signed on a pending step
    out = a.step()  # same tip: a new candidate at a higher rate, accepted
    row = a.store.get(0)
    first, second = row.candidates
    assert row.state == UNCONFIRMED and row.txid == second["txid"]
    assert second["fee_rate"] > first["fee_rate"] and row.refusal is None
    # the refused one never left (Core said no, and relays nothing it refuses): step 0 is
    # decided, and step 1 went out in the same round
    assert first["withheld"] is True and a.store.get(1).state == UNCONFIRMED


@pytest.mark.parametrize("reason,kind", [("non-final", "non-final"),
                                         ("scriptpubkey", "non-standard"),
                                         ("txn-mempool-conflict", "conflict"),
                                         ("something new", "other")])
def test_anchorer_waits_for_a_block_then_sends_the_same_bytes(core, tmp_path, reason, kind):
    accept_all(core, refuse=reason)
    a = anchorer(tmp_path, Node.from_url(core.url))
    out = a.step()
    row = a.store.get(0)
    assert row.state == PENDING and row.refusal["kind"] == kind and row.refusal["height"] == 0
    assert reason in out["events"][-1] and "after the next block" in out["events"][-1]
    tested = len(core.called("testmempoolaccept"))
    out = a.step()  # same tip: not sent again
    assert len(core.called("testmempoolaccept")) == tested and a.store.get(0).state == PENDING
    core.answer("getblockcount", ok(1))
    out = a.step()
    row = a.store.get(0)
    assert row.state == UNCONFIRMED and len(row.candidates) == 1, out["events"]
    assert core.called("sendrawtransaction") == [[row.current["raw"]]]


def test_anchorer_survives_a_malformed_reply(core, tmp_path):
    accept_all(core)
    a = anchorer(tmp_path, Node.from_url(core.url))
    a.step()
    core.answer("getblockcount", ok({}), times=1)
    out = a.step()
    assert out["node"] == "malformed" and "getblockcount" in out["events"][-1]
    assert a.step()["node"] == "ok" and a.store.get(0).state == UNCONFIRMED


def test_a_replacement_refused_for_its_fee_waits_a_block_then_pays_more(core, tmp_path):
    accept_all(core, refuse="insufficient fee", at=1)  # the second transaction tested
    a = anchorer(tmp_path, Node.from_url(core.url), bump_after=1)
    a.step()
    original = a.store.get(0).current
    core.answer("getblockcount", ok(1))
    out = a.step()  # one block since acceptance: a replacement, refused for its fee
    row = a.store.get(0)
    refused = row.candidates[1]
    assert row.txid == original["txid"] and row.refusal["kind"] == "fee too low", out["events"]
    assert refused.get("withheld") is True  # refused by testmempoolaccept: never sent
    a.step()  # same tip: no third candidate
    assert len(a.store.get(0).candidates) == 2
    core.answer("getblockcount", ok(2))
    out = a.step()
    row = a.store.get(0)
    assert len(row.candidates) == 3 and row.txid == row.candidates[2]["txid"], out["events"]
    assert row.candidates[2]["fee_rate"] > refused["fee_rate"] > original["fee_rate"]
    a.submit_checkpoint(1, 1, b"\x01" * 32)
    a.step()  # original and replacement may both be out there: nothing built on step 0 yet
    assert a.store.get(1).candidates == []
