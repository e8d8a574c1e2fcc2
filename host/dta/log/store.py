"""The append-only log store: SQLite in WAL mode, one transaction per append batch.

Layout (see docs/log.md):
  entries(idx PK, leaf, data)           one row per entry, leaf = RFC 9162 leaf hash
  nodes(level, idx, hash) WITHOUT ROWID every complete interior node (level >= 1)
  checkpoints(seq PK, tree_size, root, note, created_at)
  meta(key PK, value)                   schema version, origin
  device_events(device_key, counter PK, idx, digest) WITHOUT ROWID
                                        the log's DeviceEvent entries by (device key, counter):
                                        the dedup index of device events (dta.gateway.events)

An append writes the entry, its leaf hash and the O(log n) interior nodes it completes in the same
transaction, so a crash leaves either all of them or none. The complete node set is mirrored in
memory (``MerkleTree``) on open, so proofs are a handful of slices and never touch SQLite.
Triggers make all four tables append-only. Every DeviceEvent entry is indexed in
device_events in the transaction that appends it (a log that predates the table is indexed when
it is first opened), so `append_events` can refuse a second entry for one (device, counter)
across restarts and across processes.

Every failure is a StoreError that names the file, says what is wrong and how to recover: a
database that SQLite cannot read, rows of the wrong type or shape, a tree that does not match
its last checkpoint, a checkpoint note that does not match its row. Opening is one transaction:
a store that is refused is left exactly as it was found.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Protocol

from dta.errors import StoreError
from dta.log.tree import MerkleTree, TreeError
from dta.receipt import Receipt
from dtacore import entries as entries_mod
from dtacore import merkle, note
from dtacore.errors import ProtocolError

SCHEMA_VERSION = 1
H = merkle.HASH_SIZE
# How much of a stored value an error message quotes: enough to recognise it.
_SHOWN = 40
RECOVERY = ("stop the services and restore it from a backup (docs/operations.md), or move it "
            "aside to start an empty log")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries(idx INTEGER PRIMARY KEY, leaf BLOB NOT NULL, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS nodes(level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,
                                 PRIMARY KEY(level, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints(seq INTEGER PRIMARY KEY, tree_size INTEGER NOT NULL,
                                       root BLOB NOT NULL, note TEXT NOT NULL,
                                       created_at REAL NOT NULL);
"""
_TRIGGERS = "".join(
    f"CREATE TRIGGER IF NOT EXISTS {t}_no_{op.lower()} BEFORE {op} ON {t} "
    f"BEGIN SELECT RAISE(ABORT, '{t} is append-only'); END;\n"
    for t in ("entries", "nodes", "checkpoints", "device_events") for op in ("UPDATE", "DELETE"))
# Created apart from _SCHEMA so that opening knows whether it is new (then it is filled from
# the DeviceEvent entries already in the log). digest = dtacore.entries.event_digest of the
# entry: a second event with the same counter and another digest is not the same event.
_EVENTS_TABLE = ("CREATE TABLE device_events(device_key BLOB NOT NULL, counter INTEGER NOT NULL, "
                 "idx INTEGER NOT NULL, digest BLOB NOT NULL, PRIMARY KEY(device_key, counter)) "
                 "WITHOUT ROWID")
# Where a DeviceEvent entry keeps its device key and counter: version, type, time_ms u64.
_EV_KEY = 2 + 8
_EV_COUNTER = _EV_KEY + entries_mod.PUBKEY_SIZE


@dataclass(frozen=True)
class EventAppend:
    """What `append_events` did with one event: `index` is its entry (appended now when `new`,
    else the entry the log already held for its (device key, counter)), `digest` that entry's
    event digest (another digest than the event's: the counter was used for another event)."""

    index: int
    new: bool
    digest: bytes


class Signer(Protocol):
    """What signs checkpoints: dta.signing.Signer holding the authority's identity key
    (dta.authority.identity.open_signer), or a key a test brings."""

    public_key: bytes  # 33-byte compressed secp256k1

    def sign_digest(self, digest: bytes) -> bytes:  # 32 -> 64-byte compact low-S signature
        ...


@dataclass(frozen=True)
class CheckpointRecord:
    """A closed checkpoint as stored: what the anchoring side consumes."""

    seq: int
    tree_size: int
    root: bytes
    note: str
    created_at: float


class LogStore:
    """Append-only RFC 9162 log in one SQLite file. Thread-safe (one lock)."""

    def __init__(self, path: str | Path, *, origin: str, synchronous: str = "FULL"):
        self.path = Path(path)
        self.origin = origin
        self._lock = threading.RLock()
        try:
            note.checkpoint_text(origin, 0, bytes(H))
        except ProtocolError as exc:
            raise StoreError(f"log origin {origin!r:.{_SHOWN}} cannot name a checkpoint "
                             f"({exc}): set log.origin to a name like example.org/log") from None
        try:
            self.db = sqlite3.connect(str(self.path), isolation_level=None,
                                      check_same_thread=False)
        except sqlite3.Error as exc:
            raise self._sql_error("cannot open the log database", exc) from None
        try:
            with self._sql("opening the log"):
                # FULL: every commit fsyncs the WAL, so a returned append survives power loss.
                self.db.execute(f"PRAGMA synchronous={synchronous}")
                self._open()
                self.db.execute("PRAGMA journal_mode=WAL")
        except BaseException:
            self.db.close()
            raise

    def _open(self) -> None:
        # One transaction: a store refused here is rolled back to exactly what it was (the
        # journal mode is set after it, on a store that was accepted).
        self.db.executescript("BEGIN IMMEDIATE;" + _SCHEMA)
        try:
            had_events = self.db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                                         "name = 'device_events'").fetchone()
            if not had_events:
                self.db.execute(_EVENTS_TABLE)
            for trigger in _TRIGGERS.splitlines():
                self.db.execute(trigger)
            self._init_meta()
            self.tree = self._load_tree()
            self._committed = self.tree.size
            self._check_last_checkpoint()
            if not had_events:
                self._index_events(self.db.execute(
                    "SELECT idx, data FROM entries WHERE substr(data, 2, 1) = ?",
                    (bytes((entries_mod.DEVICE_EVENT,)),)).fetchall())
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise

    @classmethod
    def open(cls, cfg) -> "LogStore":
        """The log of the data directory in `cfg` (a dta.config.Config)."""
        Path(cfg.data_dir).mkdir(parents=True, exist_ok=True)
        return cls(cfg.log_db, origin=cfg.log.origin)

    # -- errors ------------------------------------------------------------------------------

    def _damaged(self, what: str) -> StoreError:
        return StoreError(f"{self.path}: {what}; the log database is damaged or was changed "
                          f"outside dta: {RECOVERY}")

    def _sql_error(self, doing: str, exc: sqlite3.Error) -> StoreError:
        text = str(exc)
        if isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
            return StoreError(f"{self.path}: {doing}: the database is locked by another "
                              f"process ({text}); try again once it has finished")
        return self._damaged(f"{doing}: {text}")

    @contextlib.contextmanager
    def _sql(self, doing: str):
        """Any SQLite error in the block as a StoreError naming the file."""
        try:
            yield
        except sqlite3.Error as exc:
            raise self._sql_error(doing, exc) from None
        except UnicodeDecodeError:
            # Python's sqlite3 could not decode SQLite's message: it quotes a damaged schema.
            raise self._damaged(f"{doing}: SQLite reports damage it cannot describe") from None

    # -- opening -----------------------------------------------------------------------------

    def _init_meta(self) -> None:
        rows = dict(self.db.execute("SELECT key, value FROM meta"))
        if not rows:
            if self.db.execute("SELECT EXISTS(SELECT 1 FROM entries) OR "
                               "EXISTS(SELECT 1 FROM nodes) OR "
                               "EXISTS(SELECT 1 FROM checkpoints)").fetchone()[0]:
                raise self._damaged("the meta table is empty but the log holds rows")
            self.db.executemany("INSERT INTO meta VALUES (?, ?)",
                                [("schema", str(SCHEMA_VERSION)), ("origin", self.origin)])
            return
        schema, origin = rows.get("schema"), rows.get("origin")
        if schema != str(SCHEMA_VERSION):
            raise StoreError(f"{self.path}: log schema {schema!r:.{_SHOWN}}, this version of "
                             f"dta reads schema {SCHEMA_VERSION}: open it with the version that "
                             "wrote it, or restore a backup")
        if origin != self.origin:
            raise StoreError(f"{self.path}: log origin is {origin!r:.{_SHOWN}}, configured "
                             f"{self.origin!r}: set log.origin to the log's origin, or use "
                             "another data directory")

    def _check_entry_rows(self) -> int:
        # -> the number of entries, once every row has a 32-byte leaf hash, bytes within
        # MAX_ENTRY_SIZE and the indices are 0..n-1.
        bad = self.db.execute(
            "SELECT min(idx) FROM entries WHERE typeof(leaf) != 'blob' OR length(leaf) != ? "
            "OR typeof(data) != 'blob' OR length(data) NOT BETWEEN 1 AND ?",
            (H, entries_mod.MAX_ENTRY_SIZE)).fetchone()[0]
        if bad is not None:
            raise self._damaged(f"entry {bad} has a malformed leaf hash or entry bytes")
        size, lo, hi = self.db.execute("SELECT count(*), min(idx), max(idx) FROM entries"
                                       ).fetchone()
        if size and (lo != 0 or hi != size - 1):
            raise self._damaged("entry indices are not contiguous from 0")
        return size

    def _load_tree(self) -> MerkleTree:
        size = self._check_entry_rows()
        level0 = bytearray(b"".join(
            r[0] for r in self.db.execute("SELECT leaf FROM entries ORDER BY idx")))
        if len(level0) != size * H:
            raise self._damaged("the entries changed while they were read")
        if self.db.execute("SELECT EXISTS(SELECT 1 FROM nodes WHERE typeof(level) != 'integer' "
                           "OR typeof(idx) != 'integer' OR typeof(hash) != 'blob' "
                           "OR length(hash) != ?)", (H,)).fetchone()[0]:
            raise self._damaged("a stored node has a malformed position or hash")
        levels = [level0]
        for level, count, lo, hi in self.db.execute(
                "SELECT level, count(*), min(idx), max(idx) FROM nodes GROUP BY level "
                "ORDER BY level").fetchall():
            if level != len(levels) or count != size >> level or lo != 0 or hi != count - 1:
                raise self._damaged(f"node level {level} holds {count} nodes at "
                                    f"{lo}..{hi}, a tree of {size} entries has "
                                    f"{size >> len(levels)} at level {len(levels)}")
            levels.append([r[0] for r in self.db.execute(
                "SELECT hash FROM nodes WHERE level = ? ORDER BY idx", (level,))])
        if size >> len(levels):
            raise self._damaged(f"node levels from {len(levels)} up are missing")
        return MerkleTree(levels)

    def _check_last_checkpoint(self) -> None:
        last = self._last_checkpoint()
        if last is None:
            return
        if last.tree_size > self._committed or self.tree.root(last.tree_size) != last.root:
            raise self._damaged(f"the tree does not match checkpoint {last.seq}")

    def _record(self, row) -> CheckpointRecord:
        # A checkpoint row as a record, once its types are right and its note is a checkpoint
        # of this log for the row's size and root.
        seq, size, root, text, created = row
        if (type(size) is not int or not 0 <= size <= merkle.MAX_TREE_SIZE
                or type(root) is not bytes or len(root) != H or type(text) is not str
                or type(created) not in (int, float)):
            raise self._damaged(f"checkpoint {seq} has fields of the wrong type or size")
        try:
            cp = note.parse_checkpoint(text)
        except ProtocolError as exc:
            raise self._damaged(f"checkpoint {seq}'s note does not parse ({exc})") from None
        if cp.origin != self.origin or cp.size != size or cp.root != root:
            raise self._damaged(f"checkpoint {seq}'s note is not for this log's tree of size "
                                f"{size} and its root")
        return CheckpointRecord(seq, size, root, text, created)

    def verify_integrity(self) -> int:
        """Full O(n) check: every stored leaf hash is the hash of its entry, every stored
        interior node the hash of its children, and the in-memory tree equals the stored one
        (opening the store only does the O(log n) checkpoint check). Returns the number of
        entries checked; raises StoreError on the first mismatch."""
        with self._lock, self._sql("checking the log"):
            self.db.execute("BEGIN")  # one snapshot of the file for the whole check
            try:
                return self._verify_snapshot()
            finally:
                self.db.execute("ROLLBACK")

    def _verify_snapshot(self) -> int:
        stored = self._load_tree()
        fresh = MerkleTree()
        for idx, leaf, data in self.db.execute("SELECT idx, leaf, data FROM entries "
                                               "ORDER BY idx"):
            if merkle.hash_leaf(data) != leaf:
                raise self._damaged(f"entry {idx} does not match its leaf hash")
            fresh.append_leaf_hash(leaf)
        if len(stored.levels) > len(fresh.levels) and any(stored.levels[len(fresh.levels):]):
            raise self._damaged("stored nodes above the tree height")
        n = self._committed
        if fresh.size < n:
            raise self._damaged(f"the log shrank from {n} to {fresh.size} entries")
        for level, (a, b) in enumerate(zip(fresh.levels, stored.levels, strict=False)):
            if a != b:
                raise self._damaged(f"stored nodes at level {level} are wrong")
            cut = (n >> level) * (H if level == 0 else 1)
            if b[:cut] != self.tree.levels[level][:cut]:
                raise self._damaged(f"level {level} in memory differs from disk")
        for row in self.db.execute("SELECT seq, tree_size, root, note, created_at "
                                   "FROM checkpoints ORDER BY seq").fetchall():
            rec = self._record(row)
            if rec.tree_size > fresh.size or fresh.root(rec.tree_size) != rec.root:
                raise self._damaged(f"the tree does not match checkpoint {rec.seq}")
        return fresh.size

    # -- appending -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _txn(self, doing: str):
        # COMMIT returns only after the WAL is fsynced (synchronous=FULL). If anything fails,
        # including COMMIT itself, the transaction is rolled back so the connection stays usable.
        with self._sql(doing):
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise

    @property
    def size(self) -> int:
        """Committed tree size. Lock-free: readers never look past it, and nodes below it never
        change, so proofs and roots run concurrently with an append in flight."""
        return self._committed

    def _check_size(self, size: int) -> None:
        if type(size) is not int or not 0 <= size <= self._committed:
            raise TreeError(f"{self.path}: no tree of size {size!r:.{_SHOWN}} (the log holds "
                            f"{self._committed} entries)")

    def append(self, data: bytes) -> int:
        """Append one encoded entry durably; returns its index."""
        return self.append_many([data])[0]

    def append_many(self, items: Iterable[bytes]) -> range:
        """Append encoded entries in one transaction (one fsync); returns their indices.
        Either all are durable when this returns or none is stored."""
        items = list(items)
        for d in items:
            if (not isinstance(d, (bytes, bytearray, memoryview)) or not len(d)
                    or len(d) > entries_mod.MAX_ENTRY_SIZE):
                raise StoreError(f"{self.path}: an entry must be 1..{entries_mod.MAX_ENTRY_SIZE}"
                                 " bytes; nothing was appended")
        items = [bytes(d) for d in items]
        with self._lock:
            first = None
            try:
                with self._txn("appending"):  # BEGIN IMMEDIATE: SQLite's write lock from here
                    self._catch_up()
                    first = self._committed
                    rows = []
                    nodes = []
                    for i, d in enumerate(items):
                        leaf = merkle.hash_leaf(d)
                        rows.append((first + i, leaf, d))
                        nodes.extend(self.tree.append_leaf_hash(leaf)[1:])
                    self.db.executemany("INSERT INTO entries VALUES (?, ?, ?)", rows)
                    self.db.executemany("INSERT INTO nodes VALUES (?, ?, ?)", nodes)
                    self._index_events((r[0], r[2]) for r in rows)
            except BaseException:
                if first is not None:
                    self.tree.truncate(first)
                raise
            self._committed = first + len(items)
            return range(first, first + len(items))

    def _index_events(self, rows) -> None:
        # (index, entry bytes) -> the DeviceEvent entries among them into device_events; the
        # first entry of a (device key, counter) keeps its row. Bytes that only look like one
        # (a type byte of 4 that does not decode) are not indexed.
        index = []
        for idx, data in rows:
            if len(data) < 2 or data[1] != entries_mod.DEVICE_EVENT:
                continue
            try:
                ev = entries_mod.decode(data)
            except ProtocolError:
                continue
            index.append((ev.device_key, ev.counter, idx, ev.signed_digest()))
        self.db.executemany("INSERT OR IGNORE INTO device_events VALUES (?, ?, ?, ?)", index)

    def append_events(self, events: list[tuple[bytes, bytes]]) -> list[EventAppend]:
        """Append device events, each at most once per (device key, counter), in one
        transaction (one fsync). `events`: (event digest, encoded DeviceEvent entry) pairs, the
        digest being dtacore.entries.event_digest of the entry's fields (the caller verified
        the signature over it). An event whose (device key, counter) the log already holds,
        or an earlier event of the same call holds, is not appended: its EventAppend names
        the entry that holds it. Durable when this returns, like append_many."""
        for digest, data in events:
            if (len(digest) != H or len(data) < _EV_COUNTER + 4
                    or data[1] != entries_mod.DEVICE_EVENT):
                raise StoreError(f"{self.path}: not a device event entry; nothing was appended")
        with self._lock:
            first = None
            try:
                with self._txn("appending device events"):
                    self._catch_up()
                    first = self._committed
                    out, rows, seen = self._place_events(events, first)
                    nodes = []
                    for _, leaf, _ in rows:
                        nodes.extend(self.tree.append_leaf_hash(leaf)[1:])
                    self.db.executemany("INSERT INTO entries VALUES (?, ?, ?)", rows)
                    self.db.executemany("INSERT INTO nodes VALUES (?, ?, ?)", nodes)
                    self.db.executemany("INSERT INTO device_events VALUES (?, ?, ?, ?)",
                                        [(k, c, i, d) for (k, c), (i, d) in seen.items()
                                         if i >= first])
            except BaseException:
                if first is not None:
                    self.tree.truncate(first)
                raise
            self._committed = first + len(rows)
            return out

    def _place_events(self, events, first: int):
        # -> (EventAppend per event, entry rows to insert, {(key, counter): (idx, digest)} for
        # every event of the call): the index is read in one query per chunk of keys.
        keys = [(bytes(d[_EV_KEY:_EV_COUNTER]), int.from_bytes(d[_EV_COUNTER:_EV_COUNTER + 4],
                                                               "big")) for _, d in events]
        seen: dict = {}
        wanted = sorted(set(keys))
        for i in range(0, len(wanted), 400):  # 2 parameters each, under SQLite's 999
            chunk = wanted[i:i + 400]
            pairs = ", ".join(["(?, ?)"] * len(chunk))
            params = [v for kc in chunk for v in kc]
            for k, c, idx, dg in self.db.execute(
                    "SELECT device_key, counter, idx, digest FROM device_events WHERE "
                    f"(device_key, counter) IN (VALUES {pairs})", params):
                seen[(k, c)] = (idx, dg)
        out, rows = [], []
        for kc, (digest, data) in zip(keys, events, strict=True):
            held = seen.get(kc)
            if held is not None:
                out.append(EventAppend(held[0], False, held[1]))
                continue
            idx = first + len(rows)
            rows.append((idx, merkle.hash_leaf(data), bytes(data)))
            seen[kc] = (idx, bytes(digest))
            out.append(EventAppend(idx, True, bytes(digest)))
        return out, rows, seen

    def device_event(self, device_key: bytes, counter: int) -> EventAppend | None:
        """The entry holding this device's event `counter`, if the log has one."""
        with self._lock, self._sql("reading the device event index"):
            row = self.db.execute("SELECT idx, digest FROM device_events WHERE device_key = ? "
                                  "AND counter = ?", (bytes(device_key), counter)).fetchone()
        return None if row is None else EventAppend(row[0], False, row[1])

    def refresh(self) -> int:
        """Pick up entries another process appended to the same file; returns the size."""
        with self._lock, self._sql("reading new entries"):
            self._catch_up()
            return self._committed

    def _catch_up(self) -> None:
        # Another process (say `dta log append` beside a running service) may have appended
        # since we last looked. Writers call this inside their write transaction, so the tree
        # is exactly the database's before they add to it. Nodes are recomputed from the leaf
        # hashes (deterministic); verify_integrity() checks the stored ones.
        last = self.db.execute("SELECT max(idx) FROM entries").fetchone()[0]
        size = 0 if last is None else last + 1
        if size == self._committed:
            return
        if type(size) is not int or size < self._committed:
            raise self._damaged(f"the log shrank from {self._committed} to {size!r} entries")
        rows = self.db.execute("SELECT idx, leaf FROM entries WHERE idx >= ? ORDER BY idx",
                               (self._committed,)).fetchall()
        if [r[0] for r in rows] != list(range(self._committed, self._committed + len(rows))):
            raise self._damaged("entry indices are not contiguous")
        for idx, leaf in rows:
            if type(leaf) is not bytes or len(leaf) != H:
                raise self._damaged(f"entry {idx} has a malformed leaf hash")
        for _, leaf in rows:
            self.tree.append_leaf_hash(leaf)
        self._committed = self.tree.size

    # -- reading -----------------------------------------------------------------------------

    # SQLite reads share the writer's connection, so they take the lock (a proof does not).

    def _no_entry(self, index) -> StoreError:
        held = (f"the log holds entries 0..{self._committed - 1}" if self._committed
                else "the log is empty")
        return StoreError(f"{self.path}: no entry {index!r:.{_SHOWN}}: {held}")

    def entry(self, index: int) -> bytes:
        if type(index) is not int or not 0 <= index < self._committed:
            raise self._no_entry(index)
        with self._lock, self._sql(f"reading entry {index}"):
            row = self.db.execute("SELECT data FROM entries WHERE idx = ?", (index,)).fetchone()
        if row is None:
            raise self._damaged(f"entry {index} is missing")
        if type(row[0]) is not bytes or merkle.hash_leaf(row[0]) != self.tree.node(0, index):
            raise self._damaged(f"entry {index} does not match its leaf hash")
        return row[0]

    def leaf_hash(self, index: int) -> bytes:
        if type(index) is not int or not 0 <= index < self._committed:
            raise self._no_entry(index)
        return self.tree.node(0, index)

    # Reads check against the committed size, so they never see leaves of a transaction still
    # in flight, and need no lock.

    def root(self, size: int | None = None) -> bytes:
        size = self._committed if size is None else size
        self._check_size(size)
        return self.tree.root(size)

    def inclusion_proof(self, *, index: int, size: int) -> list[bytes]:
        self._check_size(size)
        if type(index) is not int or not 0 <= index < size:
            raise TreeError(f"{self.path}: leaf index {index!r:.{_SHOWN}} is not below tree "
                            f"size {size}")
        return self.tree.inclusion_proof(index=index, size=size)

    def consistency_proof(self, *, size1: int, size2: int) -> list[bytes]:
        self._check_size(size2)
        if type(size1) is not int or not 0 < size1 <= size2:
            raise TreeError(f"{self.path}: size1 {size1!r:.{_SHOWN}} is not in 1..{size2} "
                            "(there is no consistency proof from the empty tree)")
        return self.tree.consistency_proof(size1=size1, size2=size2)

    def receipt(self, index: int, seq: int | None = None) -> Receipt:
        """Receipt for entry `index` against checkpoint `seq` (default: the first checkpoint
        whose tree contains the entry)."""
        if type(index) is not int or not 0 <= index < self._committed:
            raise self._no_entry(index)
        cp = self.checkpoint_covering(index) if seq is None else self.checkpoint(seq)
        if cp is None or cp.tree_size <= index:
            raise StoreError(f"{self.path}: no checkpoint covers entry {index} yet (the next "
                             "one will)")
        if cp.tree_size > self._committed or self.tree.root(cp.tree_size) != cp.root:
            raise self._damaged(f"the tree does not match checkpoint {cp.seq}")
        path = self.inclusion_proof(index=index, size=cp.tree_size)
        proof = merkle.encode_inclusion(index=index, size=cp.tree_size, path=path)
        return Receipt(self.entry(index), proof, cp.note)

    # -- checkpoints ---------------------------------------------------------------------------

    _CP_COLUMNS = "SELECT seq, tree_size, root, note, created_at FROM checkpoints "

    def last_checkpoint(self) -> CheckpointRecord | None:
        with self._lock, self._sql("reading the last checkpoint"):
            return self._last_checkpoint()

    def _last_checkpoint(self) -> CheckpointRecord | None:
        row = self.db.execute(self._CP_COLUMNS + "ORDER BY seq DESC LIMIT 1").fetchone()
        return self._record(row) if row else None

    def checkpoint(self, seq: int) -> CheckpointRecord:
        if type(seq) is not int:
            raise StoreError(f"{self.path}: no checkpoint {seq!r:.{_SHOWN}}")
        with self._lock, self._sql(f"reading checkpoint {seq}"):
            row = self.db.execute(self._CP_COLUMNS + "WHERE seq = ?", (seq,)).fetchone()
            if row is None:
                raise StoreError(f"{self.path}: no checkpoint {seq}")
            return self._record(row)

    def checkpoints(self, after_seq: int | None = None) -> list[CheckpointRecord]:
        """Closed checkpoints in order, those with seq > after_seq if given (for anchoring)."""
        with self._lock, self._sql("reading checkpoints"):
            rows = self.db.execute(self._CP_COLUMNS + "WHERE seq > ? ORDER BY seq",
                                   (-1 if after_seq is None else after_seq,)).fetchall()
            return [self._record(r) for r in rows]

    def checkpoint_covering(self, index: int) -> CheckpointRecord | None:
        """The first checkpoint whose tree contains entry `index`."""
        with self._lock, self._sql("reading checkpoints"):
            row = self.db.execute(self._CP_COLUMNS + "WHERE tree_size > ? ORDER BY seq LIMIT 1",
                                  (index,)).fetchone()
            return self._record(row) if row else None

    def close_checkpoint(self, signer: Signer, *, key_name: str | None = None,
                         now: float | None = None) -> CheckpointRecord:
        """Sign the current tree head as a C2SP checkpoint note and store it. Seq starts at 0.
        A tree that has not grown since the last checkpoint gets no new one: the last is
        returned (two checkpoints of one size would be two anchors, two fees, for nothing)."""
        with self._lock, self._txn("closing a checkpoint"):
            self._catch_up()
            size = self._committed
            last = self._last_checkpoint()
            if last is not None and last.tree_size > size:
                raise self._damaged(f"the tree is smaller than checkpoint {last.seq}")
            if last is not None and last.tree_size == size:
                return last
            root = self.tree.root(size)
            text = note.sign_checkpoint(self.origin, size, root, key_name or self.origin,
                                        signer.public_key, signer.sign_digest)
            seq = 0 if last is None else last.seq + 1
            rec = CheckpointRecord(seq, size, root, text, time.time() if now is None else now)
            self.db.execute("INSERT INTO checkpoints VALUES (?, ?, ?, ?, ?)",
                            (rec.seq, rec.tree_size, rec.root, rec.note, rec.created_at))
        return rec

    def close(self) -> None:
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
