"""The issuance index: which (subject, epoch) has its ShareIssued entry at which log index, the
ShareRefused entries logged, and per device the trusted height its receipts' headers start from
and the anchored receipts already pushed to it. <data dir>/issuance.sqlite3.

The log is the truth and the index only finds things in it. A share is appended to the log
first (write-ahead) and indexed after, so a crash can leave an entry that is not indexed yet:
`catch_up` reads every entry appended since the last scan and indexes the ShareIssued and
ShareRefused entries among them. The service runs it on open, before it answers anything, so
the rule "one ShareIssued entry per (subject, epoch)" survives a SIGKILL between the two writes.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from dta.errors import StoreError
from dtacore import entries
from dtacore.errors import ProtocolError

INDEX_FILE = "issuance.sqlite3"
SCHEMA_VERSION = 1
# Seconds SQLite waits for another connection's write (a reader beside the service).
BUSY_TIMEOUT = 10.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS shares(subject BLOB NOT NULL, epoch INTEGER NOT NULL,
    log_index INTEGER NOT NULL, public_share BLOB NOT NULL, time_ms INTEGER NOT NULL,
    PRIMARY KEY(subject, epoch));
CREATE TABLE IF NOT EXISTS refusals(subject BLOB NOT NULL, epoch INTEGER NOT NULL,
    reason INTEGER NOT NULL, log_index INTEGER NOT NULL, time_ms INTEGER NOT NULL,
    PRIMARY KEY(subject, epoch, reason));
CREATE TABLE IF NOT EXISTS devices(subject BLOB PRIMARY KEY, trusted_height INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS pushed(log_index INTEGER PRIMARY KEY, sequence INTEGER NOT NULL);
"""


@dataclass(frozen=True)
class ShareRow:
    subject: bytes
    epoch: int
    log_index: int
    public_share: bytes
    time_ms: int


class IssuanceIndex:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(str(self.path), isolation_level=None,
                                       check_same_thread=False, timeout=BUSY_TIMEOUT)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            version = self._meta("schema")
            if version is None:
                self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
            elif version != SCHEMA_VERSION:
                raise StoreError(f"{self.path}: issuance index schema {version}, this dta reads "
                                 f"{SCHEMA_VERSION}: move it aside, it is rebuilt from the log")
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: {exc}: move it aside, it is rebuilt from the "
                             "log") from None

    def _meta(self, key: str) -> int | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def _write(self, sql: str, args: tuple) -> None:
        with self._lock:
            try:
                self._db.execute(sql, args)
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: {exc}") from None

    def _read(self, sql: str, args: tuple) -> list[tuple]:
        with self._lock:
            try:
                return self._db.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: {exc}") from None

    # -- from the log ------------------------------------------------------------------------

    def catch_up(self, log_store) -> int:
        """Index the share entries appended since the last scan (a dta.log.LogStore); returns
        how many entries were read."""
        size = log_store.refresh()
        start = self._meta("scanned") or 0
        if start > size:
            raise StoreError(f"{self.path} has indexed {start} log entries but the log holds "
                             f"{size}: it belongs to another log; move it aside")
        for i in range(start, size):
            self._index_entry(i, log_store.entry(i))
        self._write("INSERT OR REPLACE INTO meta VALUES ('scanned', ?)", (size,))
        return size - start

    def _index_entry(self, index: int, data: bytes) -> None:
        if len(data) < 2 or data[1] not in (entries.SHARE_ISSUED, entries.SHARE_REFUSED):
            return
        try:
            e = entries.decode(data)
        except ProtocolError as exc:
            raise StoreError(f"log entry {index} does not decode ({exc}): check the log with "
                             "`dta log verify --store`") from None
        if isinstance(e, entries.ShareIssued):
            self.add_share(ShareRow(e.subject, e.epoch, index, e.public_share, e.time_ms))
        else:
            self.add_refusal(e.subject, e.epoch, e.reason, index, e.time_ms)

    # -- shares and refusals -----------------------------------------------------------------

    def add_share(self, row: ShareRow) -> None:
        # OR IGNORE: the first entry of a (subject, epoch) is the one that counts.
        self._write("INSERT OR IGNORE INTO shares VALUES (?, ?, ?, ?, ?)",
                    (row.subject, row.epoch, row.log_index, row.public_share, row.time_ms))

    def share(self, subject: bytes, epoch: int) -> ShareRow | None:
        rows = self._read("SELECT subject, epoch, log_index, public_share, time_ms FROM shares "
                          "WHERE subject = ? AND epoch = ?", (subject, epoch))
        return ShareRow(*rows[0]) if rows else None

    def shares_of(self, subject: bytes) -> list[ShareRow]:
        rows = self._read("SELECT subject, epoch, log_index, public_share, time_ms FROM shares "
                          "WHERE subject = ? ORDER BY log_index", (subject,))
        return [ShareRow(*r) for r in rows]

    def share_at(self, log_index: int) -> ShareRow | None:
        rows = self._read("SELECT subject, epoch, log_index, public_share, time_ms FROM shares "
                          "WHERE log_index = ?", (log_index,))
        return ShareRow(*rows[0]) if rows else None

    def add_refusal(self, subject: bytes, epoch: int, reason: int, log_index: int,
                    time_ms: int) -> None:
        self._write("INSERT OR IGNORE INTO refusals VALUES (?, ?, ?, ?, ?)",
                    (subject, epoch, reason, log_index, time_ms))

    def refusal(self, subject: bytes, epoch: int, reason: int) -> int | None:
        rows = self._read("SELECT log_index FROM refusals WHERE subject = ? AND epoch = ? AND "
                          "reason = ?", (subject, epoch, reason))
        return rows[0][0] if rows else None

    def issued_since(self, subject: bytes, since_ms: int) -> int:
        return self._read("SELECT count(*) FROM shares WHERE subject = ? AND time_ms >= ?",
                          (subject, since_ms))[0][0]

    def refused_since(self, subject: bytes, since_ms: int) -> int:
        return self._read("SELECT count(*) FROM refusals WHERE subject = ? AND time_ms >= ?",
                          (subject, since_ms))[0][0]

    # -- receipts ----------------------------------------------------------------------------

    def set_trusted_height(self, subject: bytes, height: int) -> None:
        self._write("INSERT OR REPLACE INTO devices VALUES (?, ?)", (subject, height))

    def trusted_height(self, subject: bytes) -> int | None:
        rows = self._read("SELECT trusted_height FROM devices WHERE subject = ?", (subject,))
        return rows[0][0] if rows else None

    def mark_pushed(self, log_index: int, sequence: int) -> None:
        self._write("INSERT OR REPLACE INTO pushed VALUES (?, ?)", (log_index, sequence))

    def pushed(self, log_index: int) -> bool:
        return bool(self._read("SELECT 1 FROM pushed WHERE log_index = ?", (log_index,)))

    def close(self) -> None:
        self._db.close()
