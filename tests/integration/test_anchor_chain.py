"""Anchoring on a real regtest node: Birth Record, the seal chain, the 80-byte limit."""


import os

import pytest

from dta.anchor import tx as chaintx
from dta.anchor.address import p2wpkh_script
from dta.anchor.anchorer import Anchorer
from dta.anchor.store import CONFIRMED, FINAL, UNCONFIRMED, AnchorStore
from dta.anchor.tx import PayloadTooLarge, build_anchor
from dta.errors import ChainError
from dtacore import anchor

DTA_ID = bytes(range(32))


def make_anchorer(tmp_path, signer, funding, node, **kw):
    a = Anchorer(AnchorStore(tmp_path / "anchors.sqlite3"), signer, DTA_ID, node, **kw)
    if funding:
        a.set_funding(funding)
    return a


def root(i):
    return bytes([i]) * 32


def test_birth_record_anchored_and_confirmed(tmp_path, regtest_node, funded_signer):
    signer, funding = funded_signer
    node = regtest_node.node
    a = make_anchorer(tmp_path, signer, funding, node, k=3)
    a.submit_birth()
    out = a.step()
    row = a.store.get(0)
    assert row.state == UNCONFIRMED and node.in_mempool(row.txid), out
    regtest_node.mine(1)
    a.step()
    assert a.store.get(0).state == CONFIRMED and a.store.get(0).confirmations == 1
    regtest_node.mine(2)
    a.step()
    row = a.store.get(0)
    assert row.state == FINAL and row.confirmations == 3
    info = node.tx(row.txid)
    assert info.inputs[0].txid == funding.txid and info.inputs[0].vout == funding.vout
    assert info.inputs[0].sequence == chaintx.SEQUENCE_RBF
    assert info.outputs[0].script == anchor.op_return_script(anchor.encode_birth(DTA_ID))
    assert info.outputs[1].script == p2wpkh_script(signer.public_key)


def test_funding_found_by_watching_blocks(tmp_path, regtest_node):
    from dta.signing import Signer
    signer = Signer(os.urandom(32))
    funding = regtest_node.fund(p2wpkh_script(signer.public_key))
    a = make_anchorer(tmp_path, signer, None, regtest_node.node)
    found = a.find_funding(from_height=regtest_node.node.height() - 150)
    assert found == funding and a.funding == funding


def test_three_checkpoints_chained_each_spending_the_previous(tmp_path, regtest_node,
                                                              funded_signer):
    signer, funding = funded_signer
    node = regtest_node.node
    a = make_anchorer(tmp_path, signer, funding, node)
    for seq in (1, 2, 3):
        a.submit_checkpoint(seq, seq * 10, root(seq))
    a.step()
    regtest_node.mine(1)
    a.step()
    rows = a.store.all()
    assert [r.state for r in rows] == [FINAL] * 4
    prev = (funding.txid, funding.vout)
    for row in rows:
        info = node.tx(row.txid)
        assert (info.inputs[0].txid, info.inputs[0].vout) == prev
        payload = anchor.payload_of(info.outputs[0].script)
        assert payload == row.payload
        prev = (row.txid, chaintx.SEAL_VOUT)
    kinds = [anchor.decode(r.payload) for r in rows]
    assert kinds[0] == anchor.BirthAnchor(anchor.KIND_BIRTH, DTA_ID)
    assert [k.sequence for k in kinds[1:]] == [1, 2, 3]
    assert [k.root for k in kinds[1:]] == [root(1), root(2), root(3)]


def test_second_root_for_same_sequence_refused(tmp_path, regtest_node, funded_signer):
    signer, funding = funded_signer
    a = make_anchorer(tmp_path, signer, funding, regtest_node.node)
    a.submit_checkpoint(1, 10, root(1))
    assert a.submit_checkpoint(1, 10, root(1)).step == 1
    with pytest.raises(ChainError, match="another root"):
        a.submit_checkpoint(1, 10, root(2))


def test_op_return_over_limit_refused_before_broadcast(regtest_node, funded_signer):
    signer, funding = funded_signer
    node = regtest_node.node
    before = set(node.rpc.call("getrawmempool"))
    with pytest.raises(PayloadTooLarge, match="81 bytes, limit 80"):
        build_anchor(signer, funding, b"\x00" * 81, 1000)
    assert set(node.rpc.call("getrawmempool")) == before
    ok = build_anchor(signer, funding, b"\x00" * 80, 1000)  # exactly at the limit is standard
    assert node.send(ok.hex) == ok.txid


def test_refuses_a_node_on_another_network(tmp_path, regtest_node, funded_signer):
    signer, funding = funded_signer
    assert regtest_node.node.network() == "regtest"
    a = make_anchorer(tmp_path, signer, funding, regtest_node.node)
    a.network = "mainnet"
    a.submit_birth()
    with pytest.raises(ChainError, match="node is on regtest, this D-TA anchors on mainnet"):
        a.step()
    assert a.store.get(0).state == "pending"


def test_rpc_errors_are_typed(regtest_node):
    from dta.anchor.rpc import Node
    from dta.errors import ChainError, NodeUnreachable, RpcError
    good = regtest_node.url
    wrong_key = good.replace(regtest_node.server.api_key, "0" * 32)
    with pytest.raises(ChainError, match="authentication failed"):
        Node.from_url(wrong_key).height()
    with pytest.raises(RpcError) as info:
        regtest_node.node.rpc.call("nosuchmethod")
    assert info.value.method == "nosuchmethod"
    from dta.services.mosquitto import free_port
    with pytest.raises(NodeUnreachable):
        Node.from_url(f"http://u:p@127.0.0.1:{free_port()}/", timeout=2).height()
    assert regtest_node.node.tx("00" * 32) is None
    assert regtest_node.node.confirmations("00" * 32) == (-1, None)
