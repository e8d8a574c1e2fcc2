"""The gateway's device registry: SQLite in WAL mode.

A device that says a verified hello with a key never seen is registered as `pending`: nothing is
logged for it, and the table of pending devices is bounded (the oldest is evicted past
`max_pending`, and counted). `enroll` makes it `enrolled` and `revoke` makes any device `revoked`,
each writing its log entry first (write-ahead: DeviceEnrolled / DeviceRevoked, see docs/log.md).
A revoked key is never enrolled again. Refused frames store nothing but a count per reason.

Schema 2 (this one) replaced schema 1's single `pending-enrolment` status; opening a schema-1
file migrates it in one transaction. A schema-1 gateway logged a DeviceEnrolled entry for every
device it registered, so its devices become `enrolled`.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from dta.errors import StoreError

SCHEMA_VERSION = 2
PENDING, ENROLLED, REVOKED = "pending", "enrolled", "revoked"
STATES = (PENDING, ENROLLED, REVOKED)
# Counted with the refusals: a pending device dropped to keep the table bounded.
EVICTED = "pending-evicted"
# Seconds a writer waits for another process's write transaction (the CLI beside a gateway).
BUSY_TIMEOUT = 10.0

_DEVICES = """
CREATE TABLE IF NOT EXISTS devices (
    key_id         TEXT PRIMARY KEY,
    pubkey         BLOB NOT NULL UNIQUE,
    board          TEXT NOT NULL,
    firmware       TEXT NOT NULL,
    boot           INTEGER NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('pending', 'enrolled', 'revoked')),
    hellos         INTEGER NOT NULL,
    first_seen     REAL NOT NULL,
    last_seen      REAL NOT NULL,
    source         TEXT NOT NULL,
    state_changed  REAL NOT NULL,
    enrolled_entry INTEGER,
    revoked_entry  INTEGER
);
"""
SCHEMA = _DEVICES + """
CREATE INDEX IF NOT EXISTS devices_by_state ON devices(state, first_seen);
CREATE TABLE IF NOT EXISTS rejections (
    reason       TEXT PRIMARY KEY,
    count        INTEGER NOT NULL
);
"""
# Schema 1 -> 2: `status` becomes `state`; a schema-1 device was logged as enrolled when first
# seen, so it is `enrolled` (its entry index was not recorded).
_MIGRATE_1 = (_DEVICES.replace("devices (", "devices_v2 (", 1) + """
INSERT INTO devices_v2 SELECT key_id, pubkey, board, firmware, boot, 'enrolled', hellos,
    first_seen, last_seen, '', last_seen, NULL, NULL FROM devices;
DROP TABLE devices;
ALTER TABLE devices_v2 RENAME TO devices;
""")


@dataclass(frozen=True)
class Device:
    key_id: str
    pubkey: bytes
    board: str
    firmware: str
    boot: int
    state: str
    hellos: int
    first_seen: float
    last_seen: float
    source: str
    state_changed: float
    enrolled_entry: int | None
    revoked_entry: int | None

    def as_dict(self) -> dict:
        d = asdict(self)
        d["pubkey"] = self.pubkey.hex()
        return d


@dataclass(frozen=True)
class HelloOutcome:
    device: Device | None
    new: bool = False
    refusal: tuple[str, str] | None = None   # (reason code, detail)
    evicted: tuple[str, ...] = ()             # key ids of pending devices dropped for this one


def _device(row: sqlite3.Row) -> Device:
    return Device(**{k: row[k] for k in row.keys()})


class Registry:
    """`Registry(path)` opens (creating it if need be); `Registry.existing(path)` is None when
    nothing was registered yet, for read-only commands that must not create files."""

    def __init__(self, path: Path, *, max_pending: int = 1000):
        self.path = Path(path)
        self.max_pending = max_pending
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                       timeout=BUSY_TIMEOUT)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._upgrade()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: {exc}") from None

    @classmethod
    def existing(cls, path: Path, **kw) -> "Registry | None":
        return cls(path, **kw) if Path(path).exists() else None

    def _upgrade(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.path}: registry schema {version} is newer than this dta's "
                             f"({SCHEMA_VERSION}): upgrade dta to use it")
        if version not in (0, 1, SCHEMA_VERSION):
            raise StoreError(f"{self.path}: unknown registry schema {version}")
        if version == 1:
            # One script, one transaction (executescript commits anything pending first).
            try:
                self._db.executescript("BEGIN IMMEDIATE;" + _MIGRATE_1
                                       + f"PRAGMA user_version={SCHEMA_VERSION}; COMMIT;")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        self._db.executescript(SCHEMA)
        self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        self._db.close()

    # -- reading --------------------------------------------------------------------------------

    def get(self, key_id: str) -> Device | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM devices WHERE key_id=?", (key_id,)).fetchone()
        return _device(row) if row else None

    def devices(self, state: str | None = None) -> list[Device]:
        with self._lock:
            if state is None:
                rows = self._db.execute("SELECT * FROM devices ORDER BY first_seen").fetchall()
            else:
                rows = self._db.execute("SELECT * FROM devices WHERE state=? ORDER BY first_seen",
                                        (state,)).fetchall()
        return [_device(r) for r in rows]

    def resolve(self, text: str) -> Device:
        """The device a key id or a unique prefix of one (4+ hex digits) names."""
        text = text.strip().lower()
        if not 4 <= len(text) <= 16 or any(c not in "0123456789abcdef" for c in text):
            raise StoreError(f"{text[:20]!r} is not a key id: give the 16 hex digits `dta "
                             "devices list` shows (or a unique prefix of at least 4)")
        with self._lock:
            rows = self._db.execute("SELECT * FROM devices WHERE key_id >= ? AND key_id < ? "
                                    "LIMIT 2", (text, text + "g")).fetchall()
        if not rows:
            raise StoreError(f"no device {text} in the registry ({self.path})")
        if len(rows) > 1:
            raise StoreError(f"{text} names more than one device: give more digits")
        return _device(rows[0])

    def keys(self, key_ids) -> dict[str, tuple[bytes, str]]:
        """key id -> (public key, state) for those of `key_ids` that are registered, read in
        one query per few hundred ids (the gateway's event writer asks once per batch)."""
        wanted = sorted(set(key_ids))
        out: dict[str, tuple[bytes, str]] = {}
        with self._lock:
            for i in range(0, len(wanted), 500):
                chunk = wanted[i:i + 500]
                out.update((r[0], (r[1], r[2])) for r in self._db.execute(
                    "SELECT key_id, pubkey, state FROM devices WHERE key_id IN "
                    f"({','.join('?' * len(chunk))})", chunk))
        return out

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = dict(self._db.execute("SELECT state, count(*) FROM devices GROUP BY state"))
        return {s: rows.get(s, 0) for s in STATES}

    def rejections(self) -> dict[str, int]:
        with self._lock:
            return {r[0]: r[1] for r in self._db.execute("SELECT reason, count FROM rejections")}

    # -- writing --------------------------------------------------------------------------------

    def _transaction(self, body: Callable[[], object]):
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                out = body()
                self._db.execute("COMMIT")
                return out
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def _count(self, reason: str, n: int = 1) -> None:
        self._db.execute("INSERT INTO rejections VALUES (?, ?) "
                         "ON CONFLICT(reason) DO UPDATE SET count=count+?", (reason, n, n))

    def count_rejection(self, reason: str) -> None:
        with self._lock:
            self._count(reason)

    def record_hello(self, key_id: str, pubkey: bytes, board: str, firmware: str, boot: int, *,
                     source: str = "", admit: Callable[[], str | None] | None = None
                     ) -> HelloOutcome:
        """Register or refresh a device from a verified hello, atomically.

        A known key must match its key id, must not be revoked and must bring a higher boot
        counter. An unknown key is registered as pending if `admit()` (the rate limit) returns
        None, evicting the oldest pending devices past max_pending; otherwise it is refused with
        admit's reason. A refusal is returned as (code, detail); the caller counts it.
        """
        def body() -> HelloOutcome:
            now = time.time()
            row = self._db.execute("SELECT * FROM devices WHERE key_id=?", (key_id,)).fetchone()
            if row is None:
                return self._new(key_id, pubkey, board, firmware, boot, source, admit, now)
            dev = _device(row)
            if dev.pubkey != pubkey:
                return HelloOutcome(dev, refusal=("key-conflict",
                                                  "key id bound to another public key"))
            if dev.state == REVOKED:
                return HelloOutcome(dev, refusal=("revoked", "this device's key was revoked"))
            if boot <= dev.boot:
                return HelloOutcome(dev, refusal=(
                    "replayed-boot", f"boot counter {boot} not above last seen {dev.boot}"))
            self._db.execute("UPDATE devices SET board=?, firmware=?, boot=?, hellos=hellos+1, "
                             "last_seen=?, source=? WHERE key_id=?",
                             (board, firmware, boot, now, source, key_id))
            return HelloOutcome(self._get(key_id))
        return self._transaction(body)

    def _get(self, key_id: str) -> Device:
        return _device(self._db.execute("SELECT * FROM devices WHERE key_id=?",
                                        (key_id,)).fetchone())

    def _new(self, key_id, pubkey, board, firmware, boot, source, admit, now) -> HelloOutcome:
        if self._db.execute("SELECT 1 FROM devices WHERE pubkey=?", (pubkey,)).fetchone():
            return HelloOutcome(None, refusal=("key-conflict", "public key bound to another id"))
        why = admit() if admit else None
        if why:
            return HelloOutcome(None, refusal=("rate-limited", why))
        evicted = self._evict_for_one()
        self._db.execute("INSERT INTO devices VALUES (?,?,?,?,?,?,?,?,?,?,?,NULL,NULL)",
                         (key_id, pubkey, board, firmware, boot, PENDING, 1, now, now, source,
                          now))
        return HelloOutcome(self._get(key_id), new=True, evicted=evicted)

    def _evict_for_one(self) -> tuple[str, ...]:
        pending = self._db.execute("SELECT count(*) FROM devices WHERE state=?",
                                   (PENDING,)).fetchone()[0]
        excess = pending - self.max_pending + 1
        if excess <= 0:
            return ()
        gone = tuple(r[0] for r in self._db.execute(
            "SELECT key_id FROM devices WHERE state=? ORDER BY first_seen, key_id LIMIT ?",
            (PENDING, excess)))
        self._db.executemany("DELETE FROM devices WHERE key_id=?", [(k,) for k in gone])
        self._count(EVICTED, len(gone))
        return gone

    def enroll(self, key_id: str, write_entry: Callable[[Device], int]) -> tuple[Device, bool]:
        """Make a pending device enrolled; `write_entry(device)` appends its DeviceEnrolled
        entry to the log first and returns its index. -> (device, changed): an enrolled device
        is left as it is (no second entry)."""
        def body():
            dev = self._known(key_id)
            if dev.state == ENROLLED:
                return dev, False
            if dev.state == REVOKED:
                raise StoreError(f"device {key_id} was revoked (log entry "
                                 f"#{dev.revoked_entry}): a revoked key is never enrolled again; "
                                 "a re-provisioned device makes a new key")
            index = write_entry(dev)
            self._db.execute("UPDATE devices SET state=?, enrolled_entry=?, state_changed=? "
                             "WHERE key_id=?", (ENROLLED, index, time.time(), key_id))
            return self._get(key_id), True
        return self._transaction(body)

    def revoke(self, key_id: str, write_entry: Callable[[Device], int]) -> tuple[Device, bool]:
        """Make any device revoked, its DeviceRevoked entry written first. -> (device, changed)."""
        def body():
            dev = self._known(key_id)
            if dev.state == REVOKED:
                return dev, False
            index = write_entry(dev)
            self._db.execute("UPDATE devices SET state=?, revoked_entry=?, state_changed=? "
                             "WHERE key_id=?", (REVOKED, index, time.time(), key_id))
            return self._get(key_id), True
        return self._transaction(body)

    def provision(self, key_id: str, pubkey: bytes, board: str,
                  write_entry: Callable[[Device], int]) -> tuple[Device, bool]:
        """Enrol a device before its first hello (its key read off it when it was provisioned):
        registered as enrolled, boot counter 0, its DeviceEnrolled entry written first."""
        def body():
            row = self._db.execute("SELECT * FROM devices WHERE key_id=? OR pubkey=?",
                                   (key_id, pubkey)).fetchone()
            if row is not None:
                return None
            now = time.time()
            self._db.execute("INSERT INTO devices VALUES (?,?,?,?,?,?,?,?,?,?,?,NULL,NULL)",
                             (key_id, pubkey, board, "-", 0, PENDING, 0, now, now, "provisioned",
                              now))
            dev = self._get(key_id)
            index = write_entry(dev)
            self._db.execute("UPDATE devices SET state=?, enrolled_entry=? WHERE key_id=?",
                             (ENROLLED, index, key_id))
            return self._get(key_id), True
        out = self._transaction(body)
        if out is None:
            dev = self.get(key_id)
            if dev is None or dev.pubkey != pubkey:
                raise StoreError(f"another device already has key id {key_id} or this key")
            return self.enroll(key_id, write_entry)
        return out

    def _known(self, key_id: str) -> Device:
        row = self._db.execute("SELECT * FROM devices WHERE key_id=?", (key_id,)).fetchone()
        if row is None:
            raise StoreError(f"no device {key_id} in the registry ({self.path})")
        return _device(row)
