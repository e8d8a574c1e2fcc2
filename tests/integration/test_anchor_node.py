"""Node capabilities and refusals against the real bcoin regtest node: each capability probed and
its branch taken, readiness refused with the fix, each refusal class with its own message and
the anchorer's reaction. A JSON-RPC stand-in in front of the node counts what is sent, or cuts
one method (an outage) or garbles one answer; the node behind it does all the work."""

import os

import pytest

from dta.anchor import capabilities as caps
from dta.anchor.address import p2wpkh_script
from dta.anchor.anchorer import Anchorer
from dta.anchor.refusal import TxRefused
from dta.anchor.rpc import Node
from dta.anchor.store import FINAL, PENDING, UNCONFIRMED, AnchorStore
from dta.anchor.tx import Outpoint, build_anchor
from dta.services import regtest
from dta.signing import Signer
from tests.fixtures.chain import DOWN, NoTxIndexNode, Regtest, RpcStandIn, ok

DTA_ID = bytes(range(32))
# A node without testmempoolaccept is watched this long for a transaction it was sent.
ACCEPT = 1.0


def anchorer(tmp_path, signer, funding, node, name="anchors", **kw) -> Anchorer:
    a = Anchorer(AnchorStore(tmp_path / f"{name}.sqlite3"), signer, DTA_ID, node,
                 network="regtest", **kw)
    a.set_funding(funding)
    a.submit_birth()
    return a


@pytest.fixture
def front(regtest_node):
    """A stand-in in front of the session's node: passes everything on, records the calls."""
    with RpcStandIn(regtest_node.url) as s:
        yield s


def test_bcoin_capabilities_are_probed_and_each_branch_taken(regtest_node, front):
    node = Node.from_url(front.url)
    c = node.check_ready("regtest")
    assert c.product.startswith("/bcoin:") and c.network == "regtest"
    assert c.block_verbosity == caps.BLOCK_VERBOSE_DETAILS  # `getblock HASH 2` was refused
    assert c.tx_index == caps.TX_INDEX_LOOKUP  # no getindexinfo; block 1's coinbase found
    assert c.test_accept is False and c.segwit_active is True
    assert c.segwit_status == "BIP 9 status 'active'"
    assert c.mining == caps.MINE_ADDRESS and c.address_hrp == caps.BCOIN_REGTEST_HRP
    for method in ("getindexinfo", "testmempoolaccept", "getdeploymentinfo",
                   "generatetodescriptor"):
        assert front.called(method), method  # asked, and told "method not found"
    # the branches: decoded blocks, mining to an rb1 address, a confirmed tx found by txid
    block = node.generate_to_script(1, regtest.BURN)[0]
    (coinbase,) = node.block_transactions(block)
    assert coinbase.coinbase and coinbase.outputs[0].script == regtest.BURN
    assert front.called("generatetoaddress")[-1][1].startswith("rb1")
    assert node.tx(coinbase.txid).block_hash == block


def test_segwit_not_active_is_refused_with_how_many_blocks(tmp_path):
    with regtest.RegtestNode(tmp_path / "fresh") as server:
        chain = Regtest(server)
        chain.mine(10)
        a = Anchorer(AnchorStore(tmp_path / "a.sqlite3"), Signer(os.urandom(32)), DTA_ID,
                     chain.node, network="regtest")
        a.set_funding(Outpoint("00" * 32, 0, 10**8))
        a.submit_birth()
        with pytest.raises(caps.NodeNotReady) as info:
            a.step()
        assert "segwit is not active on this node yet (BIP 9 status 'defined' at height 10)" \
            in str(info.value)
        assert "enforces it from height 432: mine 422 more blocks" in str(info.value)
        assert a.store.get(0).state == PENDING and a.store.get(0).candidates == []
        regtest.prepare(chain.node)
        assert chain.node.check_ready("regtest").segwit_active is True


def test_node_without_tx_index_is_refused_at_start(tmp_path):
    with NoTxIndexNode(tmp_path / "noindex") as server:
        chain = Regtest(server)
        regtest.prepare(chain.node)
        signer = Signer(os.urandom(32))
        a = anchorer(tmp_path, signer, chain.fund(p2wpkh_script(signer.public_key)),
                     chain.node)
        with pytest.raises(caps.NodeNotReady) as info:
            a.step()
        assert "has no transaction index" in str(info.value)
        assert "--index-tx (bcoin)" in str(info.value) and "txindex=1" in str(info.value)
        assert "segwit" not in str(info.value)
        assert a.store.get(0).state == PENDING and a.store.get(0).candidates == []


def test_double_spend_the_test_makes_is_a_conflict_and_stays_pending(tmp_path, regtest_node,
                                                                     front):
    signer, funding = regtest_node.funded_key()
    node = Node.from_url(front.url, accept_timeout=ACCEPT)
    theirs = build_anchor(signer, funding, b"someone else spends the funding", 2000)
    regtest_node.node.send(theirs.hex)
    a = anchorer(tmp_path, signer, funding, node)
    a.submit_checkpoint(1, 1, b"\x01" * 32)
    out = a.step()
    birth = a.store.get(0)
    assert out["node"] == "refused" and birth.state == PENDING
    assert birth.refusal["kind"] == "conflict" and birth.refusal["inferred"] is True
    assert theirs.txid in birth.refusal["reason"] and "conflict" in out["events"][-1]
    assert birth.as_dict()["state"] == "pending" and birth.as_dict()["refusal"] == birth.refusal
    assert a.store.get(1).candidates == []  # nothing is signed on top of a refused anchor
    sent = len(front.called("sendrawtransaction"))
    a.step()  # same tip: not sent again
    assert len(front.called("sendrawtransaction")) == sent
    regtest_node.mine(1)  # their spend confirms: ours stays refused, now spent in the chain
    out = a.step()
    birth = a.store.get(0)
    assert len(front.called("sendrawtransaction")) == sent + 1 and birth.state == PENDING
    assert "already spent by another transaction" in birth.refusal["reason"]
    # the operator funds the identity address again: the Birth Record is signed anew on it
    fresh = regtest_node.fund(p2wpkh_script(signer.public_key))
    a.set_funding(fresh)
    a.step()
    birth = a.store.get(0)
    assert birth.state == UNCONFIRMED and len(birth.candidates) == 2
    assert node.tx(birth.txid).inputs[0].txid == fresh.txid
    regtest_node.mine(1)
    a.step()
    assert [r.state for r in a.store.all()] == [FINAL, UNCONFIRMED]  # then step 1, on it


def test_fee_below_the_floor_is_fee_too_low(regtest_node):
    signer, funding = regtest_node.funded_key()
    node = Node.from_url(regtest_node.url, accept_timeout=ACCEPT)
    parent = build_anchor(signer, funding, b"parent", 1000)
    node.send(parent.hex)
    # a child of an unconfirmed parent has no coin-age priority for bcoin to relay it free
    child = build_anchor(signer, parent.seal, b"child", 100)
    with pytest.raises(TxRefused) as info:
        node.send(child.hex)
    ref = info.value.refusal
    assert ref.kind == "fee too low" and ref.inferred
    assert f"fee {child.fee} sat for {child.vsize} vB is below the node's minimum of 1000 " \
        "sat/kvB" in ref.reason
    assert not node.in_mempool(child.txid)


def test_non_final_transaction_is_non_final_until_its_height(regtest_node):
    signer, funding = regtest_node.funded_key()
    node = Node.from_url(regtest_node.url, accept_timeout=ACCEPT)
    tip = node.height()
    locked = build_anchor(signer, funding, b"later", 1000, locktime=tip + 3)
    with pytest.raises(TxRefused) as info:
        node.send(locked.hex)
    assert info.value.refusal.kind == "non-final"
    assert info.value.refusal.reason == f"non-final: locktime {tip + 3} (final from block " \
        f"{tip + 4} on if a height), the next block is {tip + 1}"
    regtest_node.mine(2)
    with pytest.raises(TxRefused, match="non-final"):
        node.send(locked.hex)
    regtest_node.mine(1)
    assert node.send(locked.hex) == locked.txid and node.in_mempool(locked.txid)


def test_node_without_replacement_makes_the_anchorer_wait(tmp_path, regtest_node, front):
    signer, funding = regtest_node.funded_key()
    node = Node.from_url(front.url, accept_timeout=ACCEPT)
    a = anchorer(tmp_path, signer, funding, node, bump_after=1)
    a.step()
    regtest_node.mine(1)
    a.step()
    a.submit_checkpoint(1, 1, b"\x01" * 32)
    a.step()
    original = a.store.get(1).current
    regtest_node.build_block([])
    out = a.step()  # bump_after reached: a replacement, which bcoin refuses
    row = a.store.get(1)
    assert len(row.candidates) == 2 and row.txid == original["txid"], out["events"]
    assert any("does not replace transactions (BIP 125)" in e for e in out["events"])
    sent = len(front.called("sendrawtransaction"))
    for _ in range(2):  # more blocks without it: the anchorer waits, and sends nothing
        regtest_node.build_block([])
        out = a.step()
        assert any("waiting for a block" in e for e in out["events"]), out["events"]
    # a new process (`dta anchor run --once`) on the same store knows it too
    again = Anchorer(AnchorStore(tmp_path / "anchors.sqlite3"), signer, DTA_ID, node,
                     network="regtest", bump_after=1)
    again.step()
    assert len(front.called("sendrawtransaction")) == sent
    assert len(a.store.get(1).candidates) == 2
    regtest_node.mine(1)
    a.step()
    row = a.store.get(1)
    assert row.state == FINAL and row.txid == original["txid"]


def test_bump_after_counts_from_acceptance_not_signing(tmp_path, regtest_node, front):
    signer, funding = regtest_node.funded_key()
    node = Node.from_url(front.url, accept_timeout=ACCEPT)
    a = anchorer(tmp_path, signer, funding, node, bump_after=2)
    front.answer("sendrawtransaction", DOWN)  # the node goes away between signing and sending
    out = a.step()
    birth = a.store.get(0)
    assert out["node"] == "unreachable" and birth.state == PENDING
    assert len(birth.candidates) == 1 and birth.accepted_height is None  # signed, stored
    regtest_node.build_block([])
    regtest_node.build_block([])
    regtest_node.build_block([])  # three blocks while it could not be sent
    front.forget("sendrawtransaction")
    out = a.step()
    birth = a.store.get(0)
    tip = regtest_node.node.height()
    assert birth.state == UNCONFIRMED and birth.accepted_height == tip
    assert birth.signed_height == tip - 3 and len(birth.candidates) == 1, out["events"]
    regtest_node.build_block([])
    a.step()
    assert len(a.store.get(0).candidates) == 1  # one block since acceptance
    regtest_node.build_block([])
    out = a.step()
    assert len(a.store.get(0).candidates) == 2, out["events"]  # two: bumped


def test_a_malformed_answer_stops_one_round_only(tmp_path, regtest_node, front):
    signer, funding = regtest_node.funded_key()
    a = anchorer(tmp_path, signer, funding, Node.from_url(front.url))
    a.step()
    regtest_node.mine(1)
    front.answer("getrawtransaction", ok({}), times=1)
    out = a.step()
    assert out["node"] == "malformed" and "getrawtransaction" in out["events"][-1]
    assert a.store.get(0).state == UNCONFIRMED
    out = a.step()
    assert out["node"] == "ok" and a.store.get(0).state == FINAL
