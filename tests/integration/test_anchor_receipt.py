"""Receipts end to end: log entry -> checkpoint -> anchor on a real node -> offline verification,
and every field tampered in turn is rejected with a reason naming the broken link."""

import copy
import json

import pytest

from dta import receipt as receipts
from dta.anchor import evidence
from dta.anchor.anchorer import Anchorer
from dta.anchor.store import FINAL, AnchorStore
from dta.authority.identity import PublicFacts
from dta.log.store import LogStore
from dta.verify import LinkError, TrustRoot, verify_receipt
from dtacore import entries as E
from dtacore.errors import DecodeError

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
    facts = PublicFacts(DTA_ID, "receipt", "regtest", signer.public_key, 0, "test")
    ev = evidence.anchored(node, facts, cp.seq, txid=row.txid,
                           raw_tx=bytes.fromhex(row.current["raw"]), block_hash=row.block_hash,
                           k=K)
    log_receipt = log.receipt(2)
    rec = json.loads(receipts.Receipt(log_receipt.entry, log_receipt.proof,
                                      log_receipt.checkpoint, ev).to_json())
    start = rec["anchor"]["checkpoint_height"]
    trusted = bytes.fromhex(node.header_hex(node.block_hash(start)))
    return {"receipt": rec, "trusted": trusted, "height": start, "node": node, "row": row,
            "signer": signer, "log": log, "cp": cp}


def parsed(rec: dict):
    return receipts.parse(json.dumps(rec))


def check(a, rec, **kw):
    return verify_receipt(parsed(rec), TrustRoot(a["trusted"], a["height"]), k=K, **kw)


def test_receipt_json_round_trips_byte_exact(anchored):
    text = json.dumps(anchored["receipt"], sort_keys=True)
    assert receipts.parse(text).to_json() == text


def test_offline_verification_accepts(anchored):
    v = check(anchored, anchored["receipt"])
    assert v.anchored and v.leaf_index == 2 and v.tree_size == 5
    assert v.txid == anchored["row"].txid and v.confirmations == K
    assert v.root == anchored["cp"].root


def test_node_verification_accepts(anchored):
    v = verify_receipt(parsed(anchored["receipt"]), TrustRoot(node=anchored["node"]), k=K)
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
        ("entry-payload-bit", ("entry",), flip(rec["entry"], len(bytes.fromhex(rec["entry"])) - 1),
         "inclusion proof"),
        ("proof-hash-bit", ("proof",), flip(rec["proof"], len(bytes.fromhex(rec["proof"])) - 1),
         "inclusion proof"),
        ("proof-truncated", ("proof",), rec["proof"][:-2], "inclusion proof"),
        ("checkpoint-size-line", ("checkpoint",), forged_size, "checkpoint signature"),
        ("checkpoint-signature", ("checkpoint",),
         note.replace(lines[-2], lines[-2][:-6] + "AAAAA="), "checkpoint signature"),
        ("identity-key", ("anchor", "identity_pubkey"), other_key, "checkpoint signature"),
        ("dta-id", ("anchor", "dta_id"), flip(ev["dta_id"], 0), "payload"),
        ("sequence", ("anchor", "sequence"), ev["sequence"] + 1, "payload"),
        ("status-pending", ("anchor", "status"), "pending", "format"),  # chain fields with it
        ("tx-payload-root-bit", ("anchor", "tx"), flip(ev["tx"], payload_at + 60), "payload"),
        ("tx-payload-marker", ("anchor", "tx"), flip(ev["tx"], payload_at), "payload"),
        ("tx-witness-pubkey", ("anchor", "tx"), flip(ev["tx"], pubkey_at + 5), "anchor signer"),
        ("tx-truncated", ("anchor", "tx"), ev["tx"][:-2], "anchor signer"),
        ("tx-change-value", ("anchor", "tx"), flip(ev["tx"], payload_at + 71),
         "transaction in block"),
        ("txout-proof-hash-bit", ("anchor", "txout_proof"), flip(ev["txout_proof"], 90),
         "transaction in block"),
        ("txout-proof-header-bit", ("anchor", "txout_proof"), flip(ev["txout_proof"], 40),
         "transaction in block"),
        ("txout-proof-trailing", ("anchor", "txout_proof"), ev["txout_proof"] + "00",
         "transaction in block"),
        ("block-index", ("anchor", "block_index"), bidx + 1, "transaction in block"),
        ("block-header-merkle-bit", ("anchor", "headers", bidx), flip(ev["headers"][bidx], 40),
         "transaction in block"),
        ("first-header-prev-bit", ("anchor", "headers", 0), flip(ev["headers"][0], 4),
         "transaction in block" if bidx == 0 else "header chain"),
        ("last-header-prev-bit", ("anchor", "headers", -1), flip(ev["headers"][-1], 4),
         "header chain"),
        ("last-header-bits", ("anchor", "headers", -1),
         ev["headers"][-1][:144] + "0000ff1f" + ev["headers"][-1][152:], "header chain"),
        ("checkpoint-height", ("anchor", "checkpoint_height"), ev["checkpoint_height"] + 1,
         "header chain"),
        ("headers-dropped", ("anchor", "headers"), ev["headers"][:-1], "confirmations"),
        ("network", ("anchor", "network"), "moonnet", "format"),
        ("sequence-not-int", ("anchor", "sequence"), "7", "format"),
        ("headers-not-hex", ("anchor", "headers", 0), "zz" * 80, "format"),
        ("header-short", ("anchor", "headers", -1), ev["headers"][-1][:-2], "format"),
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
        # a strict parse refuses some changes before any link is checked
        with pytest.raises((LinkError, DecodeError)) as info:
            check(anchored, bad)
        got = getattr(info.value, "link", "format")
        results[name] = (got, link, str(info.value))
    wrong = {k: v for k, v in results.items() if v[0] != v[1]}
    assert not wrong, wrong


def test_wrong_trusted_checkpoint_is_rejected(anchored):
    node = anchored["node"]
    other = bytes.fromhex(node.header_hex(node.block_hash(anchored["height"] - 1)))
    with pytest.raises(LinkError, match="header chain"):
        verify_receipt(parsed(anchored["receipt"]), TrustRoot(other, anchored["height"]), k=K)


def test_expected_identity_pinned(anchored):
    with pytest.raises(LinkError, match="payload"):
        check(anchored, anchored["receipt"], expect_dta_id=bytes(32))
    check(anchored, anchored["receipt"], expect_dta_id=DTA_ID,
          expect_pubkey=anchored["signer"].public_key)
