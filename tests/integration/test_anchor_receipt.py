"""Receipts end to end: log entry -> checkpoint -> anchor on a real node -> offline verification,
and every field tampered in turn is rejected with a reason naming the broken link."""

import copy
import json

import pytest

from dtacore import entries as E
from dta.chain import receipt as R
from dta.chain.anchorer import Anchorer
from dta.chain.store import FINAL, AnchorStore
from dta.log.receipt import make_receipt
from dta.log.store import LogStore

ORIGIN = "receipt.test.dta/log"
DTA_ID = bytes(range(32))
K = 3
PK = bytes.fromhex("02" + "ab" * 32)


@pytest.fixture(scope="module")
def anchored(tmp_path_factory, regtest_node):
    tmp = tmp_path_factory.mktemp("receipt")
    signer, funding = regtest_node.funded_key()
    node = regtest_node.node
    log = LogStore(tmp / "log.sqlite3", origin=ORIGIN)
    log.append_many([E.DeviceEvent(PK, i, 1, b"evt %d" % i, bytes(64), 1764000000000 + i).encode()
                     for i in range(5)])
    cp = log.close_checkpoint(signer)
    a = Anchorer(AnchorStore(tmp / "anchors.sqlite3"), signer, DTA_ID, node, k=K)
    a.set_funding(funding)
    a.submit_checkpoint(cp.seq, cp.tree_size, cp.root)
    a.step()
    regtest_node.mine(K)
    a.step()
    row = a.store.by_sequence(cp.seq)
    assert row.state == FINAL
    rec = json.loads(make_receipt(log, 2).to_json())
    rec["anchor"] = R.anchored_evidence(node, network="regtest", dta_id=DTA_ID,
                                        identity_pubkey=signer.public_key, sequence=cp.seq,
                                        txid=row.txid, raw_tx=row.current["raw"],
                                        block_hash=row.block_hash, k=K)
    start = rec["anchor"]["checkpoint_height"]
    trusted = bytes.fromhex(node.header_hex(node.block_hash(start)))
    return {"receipt": rec, "trusted": trusted, "height": start, "node": node, "row": row,
            "signer": signer, "log": log, "cp": cp}


def check(a, rec, **kw):
    return R.verify_receipt(rec, k=K, trusted_header=a["trusted"], trusted_height=a["height"], **kw)


def test_offline_verification_accepts(anchored):
    v = check(anchored, anchored["receipt"])
    assert v.anchored and v.leaf_index == 2 and v.tree_size == 5
    assert v.txid == anchored["row"].txid and v.confirmations == K
    assert v.root == anchored["cp"].root


def test_node_verification_accepts(anchored):
    v = R.verify_receipt(anchored["receipt"], k=K, node=anchored["node"])
    assert v.confirmations >= K


def flip(hexstr, pos):
    b = bytearray(bytes.fromhex(hexstr))
    b[pos] ^= 0x01
    return b.hex()


def _tx_offsets(raw_hex):
    raw = bytes.fromhex(raw_hex)
    payload_at = raw.index(b"D-TA")
    pubkey_at = len(raw) - 4 - 33
    return payload_at, pubkey_at


def mutations(a):
    rec = a["receipt"]
    ev = rec["anchor"]
    payload_at, pubkey_at = _tx_offsets(ev["tx"])
    bidx = ev["block_index"]
    other_key = bytes.fromhex("03" + "cd" * 32).hex()
    note = rec["checkpoint"]
    lines = note.split("\n")
    forged_size = "\n".join([lines[0], str(int(lines[1]) + 1)] + lines[2:])
    return [
        # (name of the change, path, new value, the link that must be named)
        ("entry-type-byte", ("entry",), flip(rec["entry"], 1), "entry"),
        ("entry-payload-bit", ("entry",), flip(rec["entry"], len(bytes.fromhex(rec["entry"])) - 1), "inclusion proof"),
        ("proof-hash-bit", ("proof",), flip(rec["proof"], len(bytes.fromhex(rec["proof"])) - 1), "inclusion proof"),
        ("proof-truncated", ("proof",), rec["proof"][:-2], "inclusion proof"),
        ("checkpoint-size-line", ("checkpoint",), forged_size, "checkpoint signature"),
        ("checkpoint-signature", ("checkpoint",), note.replace(lines[-2], lines[-2][:-6] + "AAAAA="), "checkpoint signature"),
        ("identity-key", ("anchor", "identity_pubkey"), other_key, "checkpoint signature"),
        ("dta-id", ("anchor", "dta_id"), flip(ev["dta_id"], 0), "payload"),
        ("sequence", ("anchor", "sequence"), ev["sequence"] + 1, "payload"),
        ("status-pending", ("anchor", "status"), "pending", "payload"),
        ("tx-payload-root-bit", ("anchor", "tx"), flip(ev["tx"], payload_at + 60), "payload"),
        ("tx-payload-marker", ("anchor", "tx"), flip(ev["tx"], payload_at), "payload"),
        ("tx-witness-pubkey", ("anchor", "tx"), flip(ev["tx"], pubkey_at + 5), "anchor signer"),
        ("tx-truncated", ("anchor", "tx"), ev["tx"][:-2], "anchor signer"),
        ("tx-change-value", ("anchor", "tx"), flip(ev["tx"], payload_at + 71), "transaction in block"),
        ("txout-proof-hash-bit", ("anchor", "txout_proof"), flip(ev["txout_proof"], 90), "transaction in block"),
        ("txout-proof-header-bit", ("anchor", "txout_proof"), flip(ev["txout_proof"], 40), "transaction in block"),
        ("txout-proof-trailing", ("anchor", "txout_proof"), ev["txout_proof"] + "00", "transaction in block"),
        ("block-index", ("anchor", "block_index"), bidx + 1, "transaction in block"),
        ("block-header-merkle-bit", ("anchor", "headers", bidx), flip(ev["headers"][bidx], 40), "transaction in block"),
        ("first-header-prev-bit", ("anchor", "headers", 0), flip(ev["headers"][0], 4), "transaction in block" if bidx == 0 else "header chain"),
        ("last-header-prev-bit", ("anchor", "headers", -1), flip(ev["headers"][-1], 4), "header chain"),
        ("last-header-bits", ("anchor", "headers", -1), ev["headers"][-1][:144] + "0000ff1f" + ev["headers"][-1][152:], "header chain"),
        ("checkpoint-height", ("anchor", "checkpoint_height"), ev["checkpoint_height"] + 1, "header chain"),
        ("headers-dropped", ("anchor", "headers"), ev["headers"][:-1], "confirmations"),
        ("network", ("anchor", "network"), "moonnet", "header chain"),
    ]


def _apply(rec, path, value):
    rec = copy.deepcopy(rec)
    target = rec
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return rec


def test_every_field_tampered_is_rejected_naming_the_link(anchored):
    results = {}
    for name, path, value, link in mutations(anchored):
        bad = _apply(anchored["receipt"], path, value)
        with pytest.raises(R.ReceiptInvalid) as info:
            check(anchored, bad)
        results[name] = (info.value.link, link, str(info.value))
    wrong = {k: v for k, v in results.items() if v[0] != v[1]}
    assert not wrong, wrong


def test_wrong_trusted_checkpoint_is_rejected(anchored):
    node = anchored["node"]
    other = bytes.fromhex(node.header_hex(node.block_hash(anchored["height"] - 1)))
    with pytest.raises(R.ReceiptInvalid, match="header chain"):
        R.verify_receipt(anchored["receipt"], k=K, trusted_header=other, trusted_height=anchored["height"])


def test_expected_identity_pinned(anchored):
    with pytest.raises(R.ReceiptInvalid, match="payload"):
        check(anchored, anchored["receipt"], expect_dta_id=bytes(32))
    check(anchored, anchored["receipt"], expect_dta_id=DTA_ID,
          expect_pubkey=anchored["signer"].public_key)
