"""The SQLite log store and the Log service: durability across reopen, append-only tables,
checkpoint policy, receipts, and refusal to open a tampered store."""

import os
import sqlite3

import pytest

from dta import receipt as receipts
from dta.errors import StoreError
from dta.log import Log, LogStore
from dta.receipt import Receipt
from dta.signing import Signer as LocalSigner
from dta.signing import verify as verify_digest
from dta.verify import LinkError, verify_log_receipt
from dtacore import entries as E
from dtacore import merkle, note

ORIGIN = "test.example/log"
PK = bytes.fromhex("02" + "11" * 32)


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


@pytest.fixture
def signer():
    return LocalSigner(bytes(31) + b"\x07")


def event(i):
    return E.DeviceEvent(PK, i, 1, b"evt %d" % i, bytes(64), 1764000000000 + i)


def test_append_reopen_same_tree(tmp_path):
    path = tmp_path / "log.sqlite3"
    with LogStore(path, origin=ORIGIN) as s:
        assert s.append(b"first") == 0
        assert list(s.append_many([b"e%d" % i for i in range(1, 100)])) == list(range(1, 100))
        root = s.root()
        roots = [s.root(n) for n in range(101)]
    with LogStore(path, origin=ORIGIN) as s:
        assert s.size == 100 and s.root() == root
        assert s.verify_integrity() == 100
        assert [s.root(n) for n in range(101)] == roots
        assert s.entry(0) == b"first" and s.leaf_hash(5) == merkle.hash_leaf(b"e5")
        assert s.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        s.append(b"more")
        assert s.size == 101


def test_tables_are_append_only(tmp_path):
    with LogStore(tmp_path / "log.sqlite3", origin=ORIGIN) as s:
        s.append_many([b"a", b"b", b"c"])
        for sql in ("UPDATE entries SET data = x'00' WHERE idx = 0", "DELETE FROM nodes",
                    "DELETE FROM entries WHERE idx = 2"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                s.db.execute(sql)
        assert s.size == 3


def test_failed_transaction_leaves_memory_tree_unchanged(tmp_path):
    with LogStore(tmp_path / "log.sqlite3", origin=ORIGIN) as s:
        s.append_many([b"a", b"b", b"c"])
        root = s.root()
        # A node row already at (1, 1) makes the next batch's node INSERT fail mid-transaction.
        s.db.execute("INSERT INTO nodes VALUES (1, 1, ?)", (bytes(32),))
        with pytest.raises(StoreError, match="UNIQUE"):
            s.append_many([b"d", b"e"])
        assert s.size == 3 and s.root() == root and s.tree.size == 3
        assert s.db.execute("SELECT count(*) FROM entries").fetchone()[0] == 3


def test_foreign_rows_are_refused(tmp_path):
    with LogStore(tmp_path / "log.sqlite3", origin=ORIGIN) as s:
        s.append_many([b"a", b"b", b"c"])
        s.db.execute("INSERT INTO entries VALUES (4, ?, x'00')", (bytes(32),))  # a gap at 3
        with pytest.raises(StoreError, match="contiguous"):
            s.append(b"d")
        assert s.size == 3 and s.tree.size == 3


def test_refuses_entries_over_limit(tmp_path):
    with LogStore(tmp_path / "log.sqlite3", origin=ORIGIN) as s:
        with pytest.raises(StoreError):
            s.append(bytes(E.MAX_ENTRY_SIZE + 1))
        with pytest.raises(StoreError):
            s.append(b"")
        assert s.size == 0


def test_origin_and_tamper_checks(tmp_path, signer):
    path = tmp_path / "log.sqlite3"
    with LogStore(path, origin=ORIGIN) as s:
        s.append_many([b"x%d" % i for i in range(10)])
        s.close_checkpoint(signer)
    with pytest.raises(StoreError, match="origin"):
        LogStore(path, origin="other.example/log")
    db = sqlite3.connect(path)
    db.execute("DROP TRIGGER entries_no_update")
    db.execute("UPDATE entries SET data = x'00' WHERE idx = 3")
    db.commit()
    with LogStore(path, origin=ORIGIN) as s:  # opening is O(log n): data change not seen yet
        with pytest.raises(StoreError, match="entry 3"):
            s.verify_integrity()
    db.execute("DROP TRIGGER entries_no_update")  # the store re-creates its triggers on open
    db.execute("UPDATE entries SET data = ? WHERE idx = 3", (b"x3",))
    db.execute("UPDATE entries SET leaf = ? WHERE idx = 3", (merkle.hash_leaf(b"evil"),))
    db.commit()
    with LogStore(path, origin=ORIGIN) as s:
        with pytest.raises(StoreError):
            s.verify_integrity()
    db.execute("DROP TRIGGER nodes_no_update")
    db.execute("DROP TRIGGER entries_no_update")
    db.execute("UPDATE entries SET leaf = ? WHERE idx = 3", (merkle.hash_leaf(b"x3"),))
    db.execute("UPDATE nodes SET hash = ? WHERE level = 3", (bytes(32),))
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="checkpoint"):
        LogStore(path, origin=ORIGIN)


def test_missing_nodes_detected(tmp_path):
    path = tmp_path / "log.sqlite3"
    with LogStore(path, origin=ORIGIN) as s:
        s.append_many([b"x%d" % i for i in range(8)])
    db = sqlite3.connect(path)
    db.execute("DROP TRIGGER nodes_no_delete")
    db.execute("DELETE FROM nodes WHERE level = 3")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="missing"):
        LogStore(path, origin=ORIGIN)


def test_checkpoint_policy_by_count_and_window(tmp_path, signer):
    clock = Clock()
    log = Log(LogStore(tmp_path / "log.sqlite3", origin=ORIGIN), signer, window_seconds=5,
              max_entries=4, clock=clock)
    for i in range(3):
        log.append(event(i))
    assert log.tick() is None and log.store.checkpoints() == []  # appends never sign
    log.append(event(3))  # 4 pending -> the next tick closes by count
    assert log.store.checkpoints() == []
    assert log.tick().tree_size == 4
    assert [(c.seq, c.tree_size) for c in log.store.checkpoints()] == [(0, 4)]
    log.append(event(4))
    clock.t += 4.9
    assert log.maybe_checkpoint() is None
    clock.t += 0.2  # window passed
    rec = log.maybe_checkpoint()
    assert (rec.seq, rec.tree_size) == (1, 5)
    clock.t += 100
    assert log.maybe_checkpoint() is None  # nothing pending: no empty checkpoints
    assert [c.seq for c in log.store.checkpoints(after_seq=0)] == [1]
    cp = note.verify_checkpoint(rec.note, ORIGIN, signer.public_key, verify_digest)
    assert cp.size == 5 and cp.root == rec.root == log.store.root(5)


def test_receipts_and_consistency(tmp_path, signer):
    log = Log(LogStore(tmp_path / "log.sqlite3", origin=ORIGIN), signer, window_seconds=60,
              max_entries=10)
    log.append_many([event(i) for i in range(25)])  # 25 pending >= 10 -> one checkpoint of 25
    first = log.tick()
    log.append_many([event(i) for i in range(25, 31)])
    second = log.checkpoint()
    assert log.checkpoint() == second  # no second checkpoint at one size
    with pytest.raises(StoreError, match="no entry 31"):
        log.receipt(31)
    for i in (0, 13, 24, 25, 30):
        r = receipts.parse(log.receipt(i).to_json())
        entry, proof, cp = verify_log_receipt(r, signer.public_key, ORIGIN)
        assert proof.index == i and entry == event(i)
        assert cp.size == (25 if i < 25 else 31)
    proof = log.consistency(size1=first.tree_size, size2=second.tree_size)
    assert merkle.verify_consistency_bytes(proof, first.root, second.root)[:2] == (25, 31)
    r = log.receipt(3, seq=second.seq)
    other = LocalSigner(bytes(31) + b"\x09")
    with pytest.raises(LinkError) as bad:
        verify_log_receipt(r, other.public_key, ORIGIN)
    assert bad.value.link == "checkpoint signature"
    with pytest.raises(LinkError) as bad:
        verify_log_receipt(Receipt(event(4).encode(), r.proof, r.checkpoint), signer.public_key,
                           ORIGIN)
    assert bad.value.link == "inclusion proof" and "does not match root" in bad.value.reason
    old = log.receipt(3, seq=first.seq)  # proof for size 25 against the size-31 checkpoint
    with pytest.raises(LinkError, match="tree size"):
        verify_log_receipt(Receipt(old.entry, old.proof, r.checkpoint), signer.public_key, ORIGIN)


def test_local_signer_signs_low_s_and_verifies():
    a = LocalSigner(os.urandom(31) + b"\x01")
    d = os.urandom(32)
    assert verify_digest(a.public_key, d, a.sign_digest(d))
    assert not verify_digest(a.public_key, d, bytes(64))


def test_group_commit_from_many_threads(tmp_path, signer):
    import threading

    log = Log(LogStore(tmp_path / "log.sqlite3", origin=ORIGIN), signer, window_seconds=3600,
              max_entries=10**9)
    got = {}

    def worker(w):
        got[w] = [log.append(b"w%d-%d" % (w, k)) for k in range(200)]

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    indices = sorted(i for v in got.values() for i in v)
    assert indices == list(range(1600))
    for w, idx in got.items():
        assert [log.store.entry(i) for i in idx] == [b"w%d-%d" % (w, k) for k in range(200)]
    assert log.store.verify_integrity() == 1600


def test_group_commit_reports_failure_to_every_caller(tmp_path, signer):
    log = Log(LogStore(tmp_path / "log.sqlite3", origin=ORIGIN), signer)
    with pytest.raises(StoreError):
        log.append(b"")
    assert log.append(b"ok") == 0


def test_shared_fixture(transparency_log, log_signer):
    transparency_log.append(event(0))
    rec = transparency_log.checkpoint()
    r = transparency_log.receipt(0)
    assert verify_log_receipt(r, log_signer.public_key, "test.example/log")[1].index == 0
    assert rec.tree_size == 1


def test_two_writers_on_one_file(tmp_path, signer):
    # e.g. `dta log append` while a service holds the log open: each writer catches up inside
    # its write transaction, so indices, nodes and checkpoints stay one consistent tree.
    path = tmp_path / "log.sqlite3"
    a = LogStore(path, origin=ORIGIN)
    b = LogStore(path, origin=ORIGIN)
    for k in range(20):
        w = (a, b)[k % 2]
        idx = w.append_many([b"k%d-%d" % (k, j) for j in range(k % 5 + 1)])
        assert list(idx) == list(range(idx.start, idx.stop))
        if k % 7 == 6:
            w.close_checkpoint(signer)
    assert b.refresh() == a.refresh() == a.size == b.size
    assert a.root() == b.root() and a.verify_integrity() == b.verify_integrity() == a.size
    assert [c.seq for c in a.checkpoints()] == [0, 1]
    for c in a.checkpoints():
        assert a.root(c.tree_size) == c.root == b.root(c.tree_size)
    a.close()
    b.close()
    with LogStore(path, origin=ORIGIN) as s:
        assert s.size == sum(k % 5 + 1 for k in range(20))


def test_verify_integrity_reads_nodes_from_disk(tmp_path):
    with LogStore(tmp_path / "log.sqlite3", origin=ORIGIN) as s:
        s.append_many([b"x%d" % i for i in range(16)])
        s.db.execute("DROP TRIGGER nodes_no_update")
        s.db.execute("UPDATE nodes SET hash = ? WHERE level = 2 AND idx = 1", (bytes(32),))
        with pytest.raises(StoreError, match="level 2"):
            s.verify_integrity()
