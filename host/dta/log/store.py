"""The append-only log store: SQLite in WAL mode, one transaction per append batch.

Layout (see docs/log.md):
  entries(idx PK, leaf, data)           one row per entry, leaf = RFC 9162 leaf hash
  nodes(level, idx, hash) WITHOUT ROWID every complete interior node (level >= 1)
  checkpoints(seq PK, tree_size, root, note, created_at)
  meta(key PK, value)                   schema version, origin

An append writes the entry, its leaf hash and the O(log n) interior nodes it completes in the same
transaction, so a crash leaves either all of them or none. The complete node set is mirrored in
memory (``MerkleTree``) on open, so proofs are a handful of slices and never touch SQLite.
Triggers make all three tables append-only.
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

SCHEMA_VERSION = 1
H = merkle.HASH_SIZE

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
    for t in ("entries", "nodes", "checkpoints") for op in ("UPDATE", "DELETE"))


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
            self.db = sqlite3.connect(str(self.path), isolation_level=None,
                                      check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            # FULL: every commit fsyncs the WAL, so a returned append survives power loss.
            self.db.execute(f"PRAGMA synchronous={synchronous}")
            self.db.executescript(_SCHEMA + _TRIGGERS)
            self._init_meta()
            self.tree = self._load_tree()
            self._committed = self.tree.size
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: {exc}") from None
        self._check_last_checkpoint()

    @classmethod
    def open(cls, cfg) -> "LogStore":
        """The log of the data directory in `cfg` (a dta.config.Config)."""
        Path(cfg.data_dir).mkdir(parents=True, exist_ok=True)
        return cls(cfg.log_db, origin=cfg.log.origin)

    # -- opening -----------------------------------------------------------------------------

    def _init_meta(self) -> None:
        rows = dict(self.db.execute("SELECT key, value FROM meta"))
        if not rows:
            with self._txn():
                self.db.executemany("INSERT INTO meta VALUES (?, ?)",
                                    [("schema", str(SCHEMA_VERSION)), ("origin", self.origin)])
            return
        if rows.get("schema") != str(SCHEMA_VERSION):
            raise StoreError(f"{self.path}: schema {rows.get('schema')}, want {SCHEMA_VERSION}")
        if rows.get("origin") != self.origin:
            raise StoreError(f"{self.path}: log origin is {rows.get('origin')!r}, "
                             f"configured {self.origin!r}")

    def _load_tree(self) -> MerkleTree:
        level0 = bytearray(b"".join(
            r[0] for r in self.db.execute("SELECT leaf FROM entries ORDER BY idx")))
        size = len(level0) // H
        last = self.db.execute("SELECT max(idx) FROM entries").fetchone()[0]
        if size and last != size - 1:
            raise StoreError(f"{self.path}: entry indices are not contiguous")
        levels = [level0]
        for level, count in self.db.execute(
                "SELECT level, count(*) FROM nodes GROUP BY level ORDER BY level"):
            if level != len(levels) or count != size >> level:
                raise StoreError(f"{self.path}: node level {level} has {count} nodes, "
                                 f"want {size >> level}")
            levels.append([r[0] for r in self.db.execute(
                "SELECT hash FROM nodes WHERE level = ? ORDER BY idx", (level,))])
        if size >> len(levels):
            raise StoreError(f"{self.path}: node levels missing")
        return MerkleTree(levels)

    def _check_last_checkpoint(self) -> None:
        last = self.last_checkpoint()
        if last is None:
            return
        if last.tree_size > self.size or self.tree.root(last.tree_size) != last.root:
            raise StoreError(f"{self.path}: tree does not match checkpoint {last.seq}")

    def verify_integrity(self) -> int:
        """Full O(n) check: every stored leaf hash is the hash of its entry, every stored
        interior node the hash of its children, and the in-memory tree equals the stored one
        (opening the store only does the O(log n) checkpoint check). Returns the number of
        entries checked; raises StoreError on the first mismatch."""
        with self._lock:
            stored = self._load_tree()
            fresh = MerkleTree()
            for idx, leaf, data in self.db.execute("SELECT idx, leaf, data FROM entries "
                                                   "ORDER BY idx"):
                if merkle.hash_leaf(data) != leaf:
                    raise StoreError(f"{self.path}: entry {idx} does not match its leaf hash")
                fresh.append_leaf_hash(leaf)
            if len(stored.levels) > len(fresh.levels) and any(stored.levels[len(fresh.levels):]):
                raise StoreError(f"{self.path}: stored nodes above the tree height")
            n = self._committed
            for level, (a, b) in enumerate(zip(fresh.levels, stored.levels, strict=False)):
                if a != b:
                    raise StoreError(f"{self.path}: stored nodes at level {level} are wrong")
                cut = (n >> level) * (H if level == 0 else 1)
                if b[:cut] != self.tree.levels[level][:cut]:
                    raise StoreError(f"{self.path}: level {level} in memory differs from disk")
            return fresh.size

    # -- appending -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _txn(self):
        # COMMIT returns only after the WAL is fsynced (synchronous=FULL). If anything fails,
        # including COMMIT itself, the transaction is rolled back so the connection stays usable.
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
        if not 0 <= size <= self._committed:
            raise TreeError(f"no tree of size {size} (current size {self._committed})")

    def append(self, data: bytes) -> int:
        """Append one encoded entry durably; returns its index."""
        return self.append_many([data])[0]

    def append_many(self, items: Iterable[bytes]) -> range:
        """Append encoded entries in one transaction (one fsync); returns their indices.
        Either all are durable when this returns or none is stored."""
        items = [bytes(d) for d in items]
        for d in items:
            if not d or len(d) > entries_mod.MAX_ENTRY_SIZE:
                raise StoreError("entry is empty or over MAX_ENTRY_SIZE")
        with self._lock:
            first = None
            try:
                with self._txn():  # BEGIN IMMEDIATE: holds SQLite's write lock from here
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
            except BaseException:
                if first is not None:
                    self.tree.truncate(first)
                raise
            self._committed = first + len(items)
            return range(first, first + len(items))

    def refresh(self) -> int:
        """Pick up entries another process appended to the same file; returns the size."""
        with self._lock:
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
        if size < self._committed:
            raise StoreError(f"{self.path}: the log shrank from {self._committed} to {size}")
        rows = self.db.execute("SELECT idx, leaf FROM entries WHERE idx >= ? ORDER BY idx",
                               (self._committed,)).fetchall()
        if [r[0] for r in rows] != list(range(self._committed, self._committed + len(rows))):
            raise StoreError(f"{self.path}: entry indices are not contiguous")
        for _, leaf in rows:
            self.tree.append_leaf_hash(leaf)
        self._committed = self.tree.size

    # -- reading -----------------------------------------------------------------------------

    # SQLite reads share the writer's connection, so they take the lock (a proof does not).

    def entry(self, index: int) -> bytes:
        if not 0 <= index < self._committed:
            raise StoreError(f"no entry {index} (size {self._committed})")
        with self._lock:
            row = self.db.execute("SELECT data FROM entries WHERE idx = ?", (index,)).fetchone()
        if row is None:
            raise StoreError(f"no entry {index} (size {self.size})")
        return row[0]

    def leaf_hash(self, index: int) -> bytes:
        if not 0 <= index < self._committed:
            raise StoreError(f"no entry {index} (size {self._committed})")
        return self.tree.node(0, index)

    # Reads check against the committed size, so they never see leaves of a transaction still
    # in flight, and need no lock.

    def root(self, size: int | None = None) -> bytes:
        size = self._committed if size is None else size
        self._check_size(size)
        return self.tree.root(size)

    def inclusion_proof(self, *, index: int, size: int) -> list[bytes]:
        self._check_size(size)
        return self.tree.inclusion_proof(index=index, size=size)

    def consistency_proof(self, *, size1: int, size2: int) -> list[bytes]:
        self._check_size(size2)
        return self.tree.consistency_proof(size1=size1, size2=size2)

    def receipt(self, index: int, seq: int | None = None) -> Receipt:
        """Receipt for entry `index` against checkpoint `seq` (default: the first checkpoint
        whose tree contains the entry)."""
        if not 0 <= index < self._committed:
            raise StoreError(f"no entry {index}: the log holds entries 0..{self._committed - 1}"
                             if self._committed else f"no entry {index}: the log is empty")
        cp = self.checkpoint_covering(index) if seq is None else self.checkpoint(seq)
        if cp is None or cp.tree_size <= index:
            raise StoreError(f"no checkpoint covers entry {index} yet (the next one will)")
        path = self.inclusion_proof(index=index, size=cp.tree_size)
        proof = merkle.encode_inclusion(index=index, size=cp.tree_size, path=path)
        return Receipt(self.entry(index), proof, cp.note)

    # -- checkpoints ---------------------------------------------------------------------------

    def last_checkpoint(self) -> CheckpointRecord | None:
        with self._lock:
            return self._last_checkpoint()

    def _last_checkpoint(self) -> CheckpointRecord | None:
        row = self.db.execute("SELECT seq, tree_size, root, note, created_at FROM checkpoints "
                              "ORDER BY seq DESC LIMIT 1").fetchone()
        return CheckpointRecord(*row) if row else None

    def checkpoint(self, seq: int) -> CheckpointRecord:
        with self._lock:
            row = self.db.execute("SELECT seq, tree_size, root, note, created_at "
                                  "FROM checkpoints WHERE seq = ?", (seq,)).fetchone()
        if row is None:
            raise StoreError(f"no checkpoint {seq}")
        return CheckpointRecord(*row)

    def checkpoints(self, after_seq: int | None = None) -> list[CheckpointRecord]:
        """Closed checkpoints in order, those with seq > after_seq if given (for anchoring)."""
        with self._lock:
            rows = self.db.execute("SELECT seq, tree_size, root, note, created_at "
                                   "FROM checkpoints WHERE seq > ? ORDER BY seq",
                                   (-1 if after_seq is None else after_seq,)).fetchall()
        return [CheckpointRecord(*r) for r in rows]

    def checkpoint_covering(self, index: int) -> CheckpointRecord | None:
        """The first checkpoint whose tree contains entry `index`."""
        with self._lock:
            row = self.db.execute("SELECT seq, tree_size, root, note, created_at "
                                  "FROM checkpoints WHERE tree_size > ? ORDER BY seq LIMIT 1",
                                  (index,)).fetchone()
        return CheckpointRecord(*row) if row else None

    def close_checkpoint(self, signer: Signer, *, key_name: str | None = None,
                         now: float | None = None) -> CheckpointRecord:
        """Sign the current tree head as a C2SP checkpoint note and store it. Seq starts at 0.
        A tree that has not grown since the last checkpoint gets no new one: the last is
        returned (two checkpoints of one size would be two anchors, two fees, for nothing)."""
        with self._lock, self._txn():
            self._catch_up()
            size = self._committed
            last = self._last_checkpoint()
            if last is not None and last.tree_size > size:
                raise StoreError("tree shrank below the last checkpoint")
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
