"""`verify --history`: walking the seal chain from the Birth Record finds gaps, forks and a
second spend, on a real node."""

import os

from dta.anchor import history
from dta.anchor.anchorer import Anchorer
from dta.anchor.store import FINAL, AnchorStore
from dta.anchor.tx import Outpoint, build_anchor
from dtacore import anchor


def setup(tmp_path, regtest_node, name):
    start = regtest_node.node.height()
    signer, funding = regtest_node.funded_key()
    dta_id = os.urandom(32)
    a = Anchorer(AnchorStore(tmp_path / f"{name}.sqlite3"), signer, dta_id, regtest_node.node)
    a.set_funding(funding)
    return a, dta_id, start


def settle(a, regtest_node):
    a.step()
    regtest_node.mine(1)
    a.step()
    assert all(r.state == FINAL for r in a.store.all())


def test_clean_history(tmp_path, regtest_node):
    a, dta_id, start = setup(tmp_path, regtest_node, "clean")
    for seq in (1, 2, 3):
        a.submit_checkpoint(seq, seq * 2, bytes([seq]) * 32)
    settle(a, regtest_node)
    h = history.walk(regtest_node.node, dta_id, from_height=start)
    assert h["ok"], h
    assert h["birth"]["txid"] == a.store.get(0).txid
    assert [x["sequence"] for x in h["anchors"]] == [1, 2, 3]
    assert h["seal"]["txid"] == a.store.get(3).txid


def test_gap_fork_and_second_spend_reported(tmp_path, regtest_node):
    a, dta_id, start = setup(tmp_path, regtest_node, "bad")
    a.submit_checkpoint(1, 1, b"\x01" * 32)
    a.submit_checkpoint(3, 3, b"\x03" * 32)  # sequence 2 never anchored
    settle(a, regtest_node)
    # someone else (another key) publishes a checkpoint for the same D-TA id: a fork
    rogue, rogue_funding = regtest_node.funded_key()
    fork_tx = build_anchor(rogue, rogue_funding,
                           anchor.encode_checkpoint(dta_id, 2, 2, b"\x22" * 32), 1000)
    regtest_node.node.send(fork_tx.hex)
    # and the seal itself is spent by a transaction that anchors nothing
    last = a.store.get(2).current
    cut = build_anchor(a.signer, Outpoint(last["txid"], 1, last["seal_value"]), b"not an anchor",
                       1000)
    regtest_node.node.send(cut.hex)
    regtest_node.mine(1)
    h = history.walk(regtest_node.node, dta_id, from_height=start)
    assert not h["ok"]
    assert [g["reason"] for g in h["gaps"]] == ["sequence 3 follows 1"]
    assert [f["txid"] for f in h["forks"]] == [fork_tx.txid]
    assert [s["txid"] for s in h["second_spends"]] == [cut.txid]
    assert h["seal"] is None
