"""Checkpoints and anchors on separate windows, on a real node: a burst of checkpoints within one
anchor window gives one transaction; a receipt for an entry in a checkpoint that was not
anchored verifies through the consistency proof to the one that was (on the host, and its
consistency link on the MicroPython VM); one tree size is never checkpointed or anchored twice."""

import copy
import json
import sqlite3

import pytest
from click.testing import CliRunner

from dta import receipt as receipts
from dta.anchor import evidence
from dta.anchor.anchorer import Anchorer
from dta.anchor.store import FINAL, AnchorStore
from dta.authority.identity import PublicFacts
from dta.cli import main
from dta.log.store import LogStore
from dta.services import micropython as mp
from dta.verify import LinkError, TrustRoot, verify_receipt
from dtacore import entries as E
from dtacore import merkle

ORIGIN = "window.test.dta/log"
DTA_ID = bytes(range(32))
PK = bytes.fromhex("02" + "ab" * 32)
K = 2
WINDOW = 600.0


def entry(i: int) -> bytes:
    return E.DeviceEvent(PK, i, 1, b"evt %d" % i, bytes(64), 1764000000000 + i).encode()


class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def burst(tmp_path_factory, regtest_node):
    """Five checkpoints closed in one burst, one anchor window: what got anchored, and how."""
    tmp = tmp_path_factory.mktemp("window")
    signer, funding = regtest_node.funded_key()
    log = LogStore(tmp / "log.sqlite3", origin=ORIGIN)
    for i in range(5):
        log.append_many([entry(2 * i), entry(2 * i + 1)])
        log.close_checkpoint(signer)
    clock = Clock(1_800_000_000.0)
    a = Anchorer(AnchorStore(tmp / "anchors.sqlite3"), signer, DTA_ID, regtest_node.node, k=K,
                 anchor_window=WINDOW, clock=clock)
    a.set_funding(funding)
    queued = a.queue_from(log)
    first = a.step()
    regtest_node.mine(K)
    a.step()
    facts = PublicFacts(DTA_ID, "window", "regtest", signer.public_key, 0, "test")
    return {"log": log, "a": a, "clock": clock, "queued": queued, "first": first,
            "facts": facts, "node": regtest_node.node, "signer": signer}


def test_a_burst_of_checkpoints_gives_one_transaction(burst, regtest_node):
    a, log, clock = burst["a"], burst["log"], burst["clock"]
    assert burst["queued"] == 1 and len(log.checkpoints()) == 5
    rows = a.store.all()
    assert [(r.kind, r.sequence, r.tree_size) for r in rows] == [(1, None, None), (2, 4, 10)]
    sent = [e for e in burst["first"]["events"] if " sent " in e]
    assert len(sent) == 2  # the Birth Record and the newest checkpoint, nothing else
    assert [r.state for r in rows] == [FINAL, FINAL]
    # more checkpoints inside the window: queued nothing; once it is over, only the newest
    for i in (5, 6):
        log.append_many([entry(2 * i), entry(2 * i + 1)])
        log.close_checkpoint(burst["signer"])
    clock.now += WINDOW - 1
    assert a.queue_from(log) == 0
    clock.now += 1
    assert a.queue_from(log) == 1
    assert [r.sequence for r in a.store.all()][1:] == [4, 6]


def _receipt(burst, index: int) -> receipts.Receipt:
    rec = burst["log"].receipt(index)
    return evidence.upgrade(rec, anchors=burst["a"].store, log_store=burst["log"],
                            node=burst["node"], facts=burst["facts"], k=K)


def _trust(burst, rec: receipts.Receipt) -> TrustRoot:
    node, start = burst["node"], rec.anchor.chain.checkpoint_height
    return TrustRoot(bytes.fromhex(node.header_hex(node.block_hash(start))), start)


def test_receipt_in_an_unanchored_checkpoint_verifies_through_consistency(burst):
    rec = _receipt(burst, 1)  # entry 1 is in checkpoint 0 (size 2), anchored by 4 (size 10)
    assert rec.consistency is not None and rec.anchor.sequence == 4
    text = rec.to_json()
    assert receipts.parse(text).to_json() == text  # strict parse, byte-exact round trip
    v = verify_receipt(receipts.parse(text), _trust(burst, rec), k=K)
    assert (v.leaf_index, v.tree_size, v.anchored_tree_size, v.sequence) == (1, 2, 10, 4)
    assert v.anchored and v.confirmations == K
    v = verify_receipt(receipts.parse(text), TrustRoot(node=burst["node"]), k=K)
    assert v.anchored_tree_size == 10
    own = _receipt(burst, 9)  # entry 9 is in checkpoint 4 itself: no consistency link
    assert own.consistency is None and verify_receipt(own, _trust(burst, own), k=K).anchored


def _flip(hexstr: str, pos: int) -> str:
    b = bytearray(bytes.fromhex(hexstr))
    b[pos] ^= 1
    return b.hex()


def test_a_tampered_consistency_link_names_the_link(burst):
    good = json.loads(_receipt(burst, 1).to_json())
    other = burst["log"].checkpoint(3).note
    cases = [
        ("proof-hash-bit", ["consistency", "proof"], _flip(good["consistency"]["proof"], -1),
         "consistency proof"),
        ("proof-truncated", ["consistency", "proof"], good["consistency"]["proof"][:-2],
         "consistency proof"),
        ("another-checkpoint", ["consistency", "checkpoint"], other, "consistency proof"),
        ("note-signature", ["consistency", "checkpoint"],
         good["consistency"]["checkpoint"].replace("\u2014 ", "\u2014 x", 1),
         "consistency proof"),
    ]
    for name, path, value, link in cases:
        bad = copy.deepcopy(good)
        bad[path[0]][path[1]] = value
        with pytest.raises(LinkError) as info:
            rec = receipts.parse(json.dumps(bad))
            verify_receipt(rec, _trust(burst, rec), k=K)
        assert info.value.link == link, (name, str(info.value))
    dropped = dict(good)
    del dropped["consistency"]  # the anchor then commits to a root the entry's tree does not have
    with pytest.raises(LinkError, match="payload"):
        rec = receipts.parse(json.dumps(dropped))
        verify_receipt(rec, _trust(burst, rec), k=K)
    for bad in (dict(good, consistency=None), dict(good, consistency={"proof": "00"}),
                dict(good, anchor=None)):
        with pytest.raises(receipts.DecodeError):
            receipts.parse(json.dumps(bad))


VM_SCRIPT = r"""
import gc, sys, json
from binascii import unhexlify as ux
from dtacore import receipt
for line in sys.stdin:
    r = json.loads(line)
    line = None
    try:
        d, p, cp = receipt.check_entry(ux(r["entry"]), ux(r["proof"]), r["checkpoint"])
        later = receipt.check_consistency(cp, r["consistency"]["checkpoint"],
                                          ux(r["consistency"]["proof"]))
        print(p.index, cp.size, later.size)
    except receipt.LinkError as exc:
        print(exc.link.replace(" ", "-"))
    r = d = p = cp = later = None
    gc.collect()  # as a device does between receipts: the last one's parse is garbage now
"""


def test_the_device_checks_the_consistency_link_too(burst, tmp_path):
    from tests.device.test_merkle_vm import compile_mpy
    good = json.loads(_receipt(burst, 1).to_json())
    bad = copy.deepcopy(good)
    bad["consistency"]["proof"] = _flip(bad["consistency"]["proof"], -1)
    lib = compile_mpy(tmp_path / "lib") / "dtacore"
    script = tmp_path / "vm.py"
    script.write_text(VM_SCRIPT)
    lines = "".join(json.dumps(r) + "\n" for r in (good, bad))
    res = mp.run(script, heapsize="64k", input=lines.encode(), path=(lib.parent,))
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.decode().split("\n")[:-1] == ["1 2 10", "consistency-proof"]


def test_one_tree_size_is_never_queued_twice(tmp_path, regtest_node):
    signer, funding = regtest_node.funded_key()
    log = LogStore(tmp_path / "log.sqlite3", origin=ORIGIN)
    log.append_many([entry(0)])
    first = log.close_checkpoint(signer)
    assert log.close_checkpoint(signer) == first  # the log makes no second one at one size
    # a log written before that rule may hold one: the anchorer still queues only the first
    db = sqlite3.connect(str(tmp_path / "log.sqlite3"))
    db.execute("INSERT INTO checkpoints VALUES (?, ?, ?, ?, ?)",
               (1, first.tree_size, first.root, first.note, first.created_at + 1))
    db.commit()
    db.close()
    log = LogStore(tmp_path / "log.sqlite3", origin=ORIGIN)
    assert [c.seq for c in log.checkpoints()] == [0, 1]
    a = Anchorer(AnchorStore(tmp_path / "a.sqlite3"), signer, DTA_ID, regtest_node.node)
    a.set_funding(funding)
    assert a.queue_from(log) == 1 and a.queue_from(log) == 0
    assert a.submit_checkpoint(1, first.tree_size, first.root).sequence == 0
    with pytest.raises(Exception, match="not above the last one queued"):
        a.submit_checkpoint(2, first.tree_size, b"\x07" * 32)
    assert [r.sequence for r in a.store.all()] == [None, 0]


def test_cli_second_checkpoint_makes_none_and_receipt_upgrade_links(tmp_path, regtest_node):
    runner = CliRunner()
    pw = tmp_path / "pw"
    pw.write_text("window passphrase\n")
    pw.chmod(0o600)  # the CLI refuses a passphrase file others can read
    (tmp_path / "dta.toml").write_text(f"[chain]\nconfirmations = {K}\nanchor_window_seconds = "
                                       f"3600\nrpc_url = \"{regtest_node.url}\"\n")
    env = {"DTA_CONFIG": str(tmp_path / "dta.toml"), "DTA_PASSPHRASE": ""}
    base = ["--data-dir", str(tmp_path / "dta")]

    def dta(*args):
        res = runner.invoke(main, base + list(args), env=env, catch_exceptions=False)
        assert res.exit_code == 0, res.output
        return json.loads(res.stdout) if res.stdout.startswith("{") else res.stdout

    dta("authority", "init", "--name", "window-cli", "--passphrase-file", str(pw))
    start = regtest_node.node.height()
    regtest_node.fund(bytes.fromhex(dta("authority", "address", "--json")["script_pubkey"]))
    dta("anchor", "fund", "--from-height", str(start), "--passphrase-file", str(pw))
    dta("log", "append", entry(0).hex(), "--passphrase-file", str(pw))
    assert dta("log", "checkpoint", "--passphrase-file", str(pw), "--json")["closed"] is True
    assert dta("log", "checkpoint", "--passphrase-file", str(pw), "--json")["closed"] is False
    dta("log", "append", entry(1).hex(), entry(2).hex(), "--passphrase-file", str(pw))
    assert dta("log", "checkpoint", "--passphrase-file", str(pw), "--json")["seq"] == 1
    out = dta("anchor", "run", "--once", "--passphrase-file", str(pw), "--json")
    assert [(r["kind"], r["sequence"]) for r in out["anchors"]] == [("birth", None),
                                                                   ("checkpoint", 1)]
    regtest_node.mine(K)
    dta("anchor", "run", "--once", "--passphrase-file", str(pw))
    (tmp_path / "r.json").write_text(json.dumps(dta("log", "prove", "0")))
    dta("receipt", "upgrade", str(tmp_path / "r.json"), "--out", str(tmp_path / "r2.json"))
    upgraded = json.loads((tmp_path / "r2.json").read_text())
    assert upgraded["anchor"]["status"] == "anchored" and upgraded["anchor"]["sequence"] == 1
    proof = merkle.decode_consistency(bytes.fromhex(upgraded["consistency"]["proof"]))
    assert (proof.size1, proof.size2) == (1, 3)
    res = dta("verify", str(tmp_path / "r2.json"), "--node", regtest_node.url, "--json")
    assert res["valid"] is True and res["confirmations"] >= K
