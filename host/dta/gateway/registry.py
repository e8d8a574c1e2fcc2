"""The gateway's device registry: SQLite in WAL mode.

Devices that said a verified hello are registered as pending enrolment. Rejected frames store
nothing but a count per reason.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from dta.errors import StoreError

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS devices (
    key_id       TEXT PRIMARY KEY,
    pubkey       BLOB NOT NULL UNIQUE,
    board        TEXT NOT NULL,
    firmware     TEXT NOT NULL,
    boot         INTEGER NOT NULL,
    status       TEXT NOT NULL,
    hellos       INTEGER NOT NULL,
    first_seen   REAL NOT NULL,
    last_seen    REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS rejections (
    reason       TEXT PRIMARY KEY,
    count        INTEGER NOT NULL
);
"""

PENDING = "pending-enrolment"


@dataclass(frozen=True)
class Device:
    key_id: str
    pubkey: bytes
    board: str
    firmware: str
    boot: int
    status: str
    hellos: int
    first_seen: float
    last_seen: float

    def as_dict(self) -> dict:
        d = self.__dict__.copy()
        d["pubkey"] = self.pubkey.hex()
        return d


class Registry:
    def __init__(self, path: Path):
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise StoreError(f"{path}: registry schema {version}, expected {SCHEMA_VERSION}")
            self._db.executescript(SCHEMA)
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path}: {exc}") from None

    def close(self) -> None:
        self._db.close()

    def get(self, key_id: str) -> Device | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM devices WHERE key_id=?", (key_id,)).fetchone()
        return Device(*row) if row else None

    def devices(self) -> list[Device]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM devices ORDER BY first_seen").fetchall()
        return [Device(*r) for r in rows]

    def record_hello(self, key_id: str, pubkey: bytes, board: str, firmware: str, boot: int,
                     on_enrol: Callable[[], object] | None = None
                     ) -> tuple[Device, tuple[str, str] | None]:
        """Register or refresh a device from a verified hello, atomically.

        Returns (device, None) on success, or (current device, (code, detail)) when the hello must
        be refused: the boot counter did not go up (a replay) or the key id is bound to another key.
        `on_enrol` runs inside the transaction, before a new device is inserted: it writes the
        enrolment to the transparency log first (write-ahead), and if it fails nothing is stored.
        """
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute("SELECT * FROM devices WHERE key_id=?", (key_id,)).fetchone()
                if row:
                    dev = Device(*row)
                    if dev.pubkey != pubkey:
                        self._db.execute("ROLLBACK")
                        return dev, ("key-conflict", "key id bound to another public key")
                    if boot <= dev.boot:
                        self._db.execute("ROLLBACK")
                        return dev, ("replayed-boot",
                                     f"boot counter {boot} not above last seen {dev.boot}")
                    self._db.execute(
                        "UPDATE devices SET board=?, firmware=?, boot=?, hellos=hellos+1, "
                        "last_seen=? WHERE key_id=?", (board, firmware, boot, now, key_id))
                else:
                    if on_enrol:
                        on_enrol()
                    self._db.execute(
                        "INSERT INTO devices VALUES (?,?,?,?,?,?,?,?,?)",
                        (key_id, pubkey, board, firmware, boot, PENDING, 1, now, now))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return self.get(key_id), None

    def count_rejection(self, reason: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO rejections VALUES (?, 1) "
                "ON CONFLICT(reason) DO UPDATE SET count=count+1", (reason,))

    def rejections(self) -> dict[str, int]:
        with self._lock:
            return dict(self._db.execute("SELECT reason, count FROM rejections").fetchall())
