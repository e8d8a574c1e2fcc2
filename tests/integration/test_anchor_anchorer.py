"""The background anchorer against a real node: outages, reorgs, stuck fees."""

import os

from dta.anchor.address import p2wpkh_script
from dta.anchor.anchorer import Anchorer
from dta.anchor.rpc import Node
from dta.anchor.store import CONFIRMED, FINAL, PENDING, UNCONFIRMED, AnchorStore
from dta.services.mosquitto import free_port
from dta.services.regtest import RegtestNode
from dta.signing import Signer
from tests.fixtures.chain import SEGWIT_HEIGHT, Regtest, wait_for

DTA_ID = bytes(range(32))


def root(i):
    return bytes([i]) * 32


def make(tmp_path, signer, funding, node, **kw):
    a = Anchorer(AnchorStore(tmp_path / "anchors.sqlite3"), signer, DTA_ID, node, **kw)
    a.set_funding(funding)
    return a


def chain_order(node, rows):
    """Walk the seal chain through the node: each anchor's input is the previous anchor's change."""
    seqs, prev = [], None
    for row in rows:
        info = node.tx(row.txid)
        if prev:
            assert (info.inputs[0].txid, info.inputs[0].vout) == (prev, 1)
        prev = row.txid
        seqs.append(row.sequence)
    return seqs


def test_node_down_for_several_windows_then_back(tmp_path):
    """A persistent node is stopped while three windows close; once restarted, in order."""
    server = RegtestNode(tmp_path / "node", memory=False).start()
    try:
        chain = Regtest(server)
        chain.mine(SEGWIT_HEIGHT)
        signer = Signer(os.urandom(32))
        funding = chain.fund(p2wpkh_script(signer.public_key))
        a = make(tmp_path, signer, funding, chain.node)
        a.submit_birth()
        a.step()
        chain.mine(1)
        assert a.step()["anchors"][0]["state"] == FINAL
        server.stop()
        for seq in (1, 2, 3):  # three checkpoint windows close while the node is down
            a.submit_checkpoint(seq, seq * 4, root(seq))
            out = a.step()
            assert out["node"] == "unreachable" and out["pending"] == seq
        server.start()
        out = a.step()
        assert out["node"] == "ok" and out["pending"] == 0
        chain.mine(1)
        a.step()
        rows = a.store.all()
        assert [r.state for r in rows] == [FINAL] * 4
        assert chain_order(chain.node, rows) == [None, 1, 2, 3]
    finally:
        server.stop()


def test_no_node_configured_keeps_roots_pending(tmp_path):
    signer = Signer(os.urandom(32))
    a = Anchorer(AnchorStore(tmp_path / "a.sqlite3"), signer, DTA_ID, None)
    a.submit_checkpoint(1, 1, root(1))
    out = a.step()
    assert out["node"] == "no node configured" and out["pending"] == 2


def test_unreachable_url_keeps_roots_pending(tmp_path):
    signer = Signer(os.urandom(32))
    node = Node.from_url(f"http://x:y@127.0.0.1:{free_port()}/", timeout=2)
    a = Anchorer(AnchorStore(tmp_path / "a.sqlite3"), signer, DTA_ID, node)
    a.submit_birth()
    assert a.step()["node"] == "unreachable" and a.store.get(0).state == PENDING


def test_reorg_detected_and_reanchored(tmp_path, regtest_node, funded_signer):
    signer, funding = funded_signer
    node = regtest_node.node
    a = make(tmp_path, signer, funding, node, k=2)
    a.submit_birth()
    a.submit_checkpoint(1, 5, root(1))
    a.step()
    regtest_node.mine(1)
    a.step()
    first = a.store.get(1)
    assert first.state == CONFIRMED
    # bcoin drops the block's txs; Core would keep them in mempool
    node.invalidate(first.block_hash)
    wait_for(lambda: node.height() == first.height - 1, what="the reorg to settle")
    out = a.step()
    assert any("reorg" in e for e in out["events"]), out["events"]
    assert all(r.state == UNCONFIRMED for r in a.store.all())
    # bcoin re-adds a disconnected block's txs in the background: step until both are back
    wait_for(lambda: a.step() and all(node.in_mempool(r.txid) for r in a.store.all()),
             what="the anchors to be back in the mempool")
    regtest_node.mine(2)
    a.step()
    rows = a.store.all()
    assert [r.state for r in rows] == [FINAL, FINAL]
    assert rows[1].block_hash != first.block_hash and rows[1].txid == first.txid
    assert chain_order(node, rows) == [None, 1]


def test_stuck_low_fee_anchor_bumped_by_rbf(tmp_path, regtest_node, funded_signer):
    signer, funding = funded_signer
    node = regtest_node.node
    a = make(tmp_path, signer, funding, node, bump_after=2, fee_floor=1000)
    a.submit_birth()
    a.step()
    regtest_node.mine(1)
    a.step()
    a.submit_checkpoint(1, 3, root(1))
    a.step()
    stuck = a.store.get(1)
    assert stuck.state == UNCONFIRMED and stuck.current["fee_rate"] <= 1100
    regtest_node.build_block([])  # blocks that leave the low-fee anchor out
    assert a.step()["events"] == []
    regtest_node.build_block([])
    out = a.step()
    row = a.store.get(1)
    assert len(row.candidates) == 2, out["events"]
    old, new = row.candidates
    assert new["fee"] > old["fee"] and new["fee_rate"] > old["fee_rate"]
    # bcoin 1.0.2 has no BIP 125 mempool replacement: it keeps the original, and says so only
    # by not admitting the replacement; the anchorer keeps following the original.
    assert row.txid == old["txid"] and node.in_mempool(old["txid"]), out["events"]
    assert row.refusal["kind"] == "conflict" and row.refusal["txid"] == new["txid"]
    assert any("does not replace transactions" in e for e in out["events"]), out["events"]
    # A miner running Core's policy would take the replacement: mine it directly.
    regtest_node.build_block([bytes.fromhex(new["raw"])])
    a.step()
    row = a.store.get(1)
    assert row.state == FINAL and row.txid == new["txid"]
    assert node.confirmations(old["txid"])[0] < 1
    # the next anchor builds on the replacement's change
    a.submit_checkpoint(2, 4, root(2))
    nxt = wait_for(lambda: a.step() and node.in_mempool(a.store.get(2).txid) and a.store.get(2),
                   what="the next anchor to be accepted")
    assert node.tx(nxt.txid).inputs[0].txid == new["txid"]


def test_reorg_to_the_other_candidate_reanchors_later_steps(tmp_path, regtest_node, funded_signer):
    """Step 1 was replaced (RBF) and the replacement confirmed; step 2 was built on it. A reorg
    then confirms the original instead: step 2 must be rebuilt on the original's change."""
    signer, funding = funded_signer
    node = regtest_node.node
    a = make(tmp_path, signer, funding, node, bump_after=1)
    a.submit_checkpoint(1, 1, root(1))
    a.step()
    regtest_node.build_block([])  # the birth anchor and step 1 both left out
    a.step()  # bumps step 1 (the last unconfirmed), paying for the birth anchor too
    row = a.store.get(1)
    original, replacement = row.candidates
    birth_raw = bytes.fromhex(a.store.get(0).current["raw"])
    regtest_node.build_block([birth_raw, bytes.fromhex(replacement["raw"])])
    a.step()
    assert a.store.get(1).txid == replacement["txid"]
    a.submit_checkpoint(2, 2, root(2))
    wait_for(lambda: a.step() and node.in_mempool(a.store.get(2).txid or ""), what="step 2 sent")
    step2_first = a.store.get(2).txid
    assert node.tx(step2_first).inputs[0].txid == replacement["txid"]
    regtest_node.mine(1)
    a.step()
    assert a.store.get(2).state == FINAL
    # reorg: drop the block with the replacement and mine the original in its place
    fork_point = a.store.get(1).block_hash
    node.invalidate(fork_point)
    wait_for(lambda: node.rpc.call("getbestblockhash") != fork_point, what="the reorg")
    regtest_node.build_block([birth_raw, bytes.fromhex(original["raw"])])
    out = wait_for(lambda: (lambda o: o if a.store.get(2).state == UNCONFIRMED
                            and node.in_mempool(a.store.get(2).txid) else None)(a.step()),
                   what="step 2 re-anchored")
    events = " | ".join(out["events"])
    row1, row2 = a.store.get(1), a.store.get(2)
    assert row1.txid == original["txid"] and row1.state in (CONFIRMED, FINAL), events
    assert row2.txid != step2_first
    assert node.tx(row2.txid).inputs[0].txid == original["txid"]
    regtest_node.mine(1)
    a.step()
    assert [r.state for r in a.store.all()] == [FINAL] * 3
    assert chain_order(node, a.store.all()) == [None, 1, 2]


def test_fee_rate_bounds_and_no_bump_at_maximum(tmp_path, regtest_node, funded_signer):
    signer, funding = funded_signer
    a = make(tmp_path, signer, funding, regtest_node.node, fee_floor=3000, fee_max=3000,
             bump_after=1)
    a.submit_birth()
    a.step()
    cand = a.store.get(0).current
    assert 3000 <= cand["fee_rate"] <= 3100 and cand["fee"] == -(-3000 * cand["vsize"] // 1000)
    regtest_node.build_block([])
    out = a.step()
    assert (any("maximum fee rate" in e for e in out["events"])
            and len(a.store.get(0).candidates) == 1)
    regtest_node.mine(1)
    assert a.step()["anchors"][0]["state"] == FINAL


def test_seal_too_small_stays_pending_with_a_reason(tmp_path, regtest_node, funded_signer):
    signer, funding = funded_signer
    a = make(tmp_path, signer, funding, regtest_node.node)
    a.set_funding(type(funding)(funding.txid, funding.vout, 300))  # claims too little to pay a fee
    a.submit_birth()
    out = a.step()
    assert out["pending"] == 1 and any("fund the identity address again" in e
                                       for e in out["events"])


def test_run_loop_until_stopped(tmp_path, regtest_node, funded_signer):
    import threading
    signer, funding = funded_signer
    a = make(tmp_path, signer, funding, regtest_node.node)
    stop, rounds = threading.Event(), []

    def feed(anchorer):
        anchorer.submit_checkpoint(len(rounds) + 1, len(rounds) + 1, root(len(rounds) + 1))

    def on_round(result):
        rounds.append(result)
        if len(rounds) == 3:
            stop.set()

    a.run(stop, 0.01, feed=feed, on_round=on_round)
    assert [r.sequence for r in a.store.all()] == [None, 1, 2, 3]
    assert rounds[-1]["pending"] == 0


def test_top_up_the_seal_with_a_second_funding_output(tmp_path, regtest_node, funded_signer):
    from dta.anchor.address import p2wpkh_script
    signer, funding = funded_signer
    node = regtest_node.node
    a = make(tmp_path, signer, funding, node)
    a.submit_birth()
    a.step()
    regtest_node.mine(1)
    a.step()
    start = node.height()
    extra = regtest_node.fund(p2wpkh_script(signer.public_key))
    assert a.find_funding(from_height=start - 5) == extra  # not the birth's change: a top-up
    assert a.funding == funding
    a.submit_checkpoint(1, 1, root(1))
    a.step()
    regtest_node.mine(1)
    a.step()
    row = a.store.get(1)
    assert row.state == FINAL
    info = node.tx(row.txid)
    spent = [(i.txid, i.vout) for i in info.inputs]
    assert spent == [(a.store.get(0).txid, 1), (extra.txid, extra.vout)]
    birth_change = a.store.get(0).current["seal_value"]
    assert row.current["seal_value"] == birth_change + extra.value - row.current["fee"]
    assert chain_order(node, a.store.all()) == [None, 1]
    a.submit_checkpoint(2, 2, root(2))  # top-ups are used once
    a.step()
    assert len(node.tx(a.store.get(2).txid).inputs) == 1


def test_a_store_from_before_acceptance_heights_opens_and_keeps_its_rows(tmp_path):
    import sqlite3
    old = sqlite3.connect(str(tmp_path / "old.sqlite3"))
    old.executescript("""
        CREATE TABLE anchors (step INTEGER PRIMARY KEY, kind INTEGER NOT NULL,
            sequence INTEGER UNIQUE, tree_size INTEGER, root BLOB, payload BLOB NOT NULL,
            state TEXT NOT NULL, candidates TEXT NOT NULL DEFAULT '[]', txid TEXT,
            block_hash TEXT, height INTEGER, confirmations INTEGER NOT NULL DEFAULT 0,
            sent_height INTEGER, created REAL NOT NULL);
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO anchors(step, kind, payload, state, sent_height, created)
            VALUES (0, 1, x'00', 'pending', 7, 1.5);
    """)
    old.close()
    row = AnchorStore(tmp_path / "old.sqlite3").get(0)
    assert (row.state, row.signed_height, row.accepted_height, row.refusal, row.created) == (
        PENDING, 7, None, None, 1.5)
