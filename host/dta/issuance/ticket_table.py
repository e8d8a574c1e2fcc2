"""The D-TA's resumption tickets on disk: the mapping a dtacore.tickets.TicketStore keeps its
tickets in, persisted in <data dir>/tickets.sqlite3 (0600: each row holds a ticket's current
secret RS_u).

Every change the store makes (a ticket issued in message_4, a use spent by resume_1, a ticket
pruned) is one SQLite transaction, so a write is atomic: a SIGKILL leaves the old row or the
new one. Commits are not fsynced (WAL, synchronous=NORMAL): a ticket change lost to a power cut
costs little, because the ratchet only goes forward (a responder holding an older RS_u derives
the newer one from it, dtacore.tickets), and a ticket lost entirely means one full handshake.
What such a loss gives an attacker is a replayed resume_1 accepted once more, whose session
nobody but the device can use (it has no RS_u).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, MutableMapping
from pathlib import Path

from dta.errors import StoreError
from dtacore import resumption
from dtacore.errors import ProtocolError

TICKETS_FILE = "tickets.sqlite3"
_SCHEMA = "CREATE TABLE IF NOT EXISTS tickets(id BLOB PRIMARY KEY, ticket BLOB NOT NULL)"


def private_file(path: Path) -> None:
    """Create `path` empty with mode 0600 if it does not exist (SQLite gives its -wal and -shm
    files the database's mode), and refuse one other users may read."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise StoreError(f"{path} holds secrets but is readable by other users (mode "
                         f"{mode:o}): chmod 600 it")


class TicketTable(MutableMapping):
    """ticket id -> dtacore.resumption.Ticket, read once into memory, written through."""

    def __init__(self, path: Path):
        self.path = Path(path)
        private_file(self.path)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(str(self.path), isolation_level=None,
                                       check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(_SCHEMA)
            rows = self._db.execute("SELECT id, ticket FROM tickets").fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: {exc}: move it aside (every device then runs one "
                             "full handshake)") from None
        self._cache = {}
        for tid, blob in rows:
            try:
                self._cache[bytes(tid)] = resumption.decode_ticket(bytes(blob))
            except ProtocolError as exc:
                raise StoreError(f"{self.path}: ticket {bytes(tid).hex()} is damaged ({exc}): "
                                 "move the file aside (every device then runs one full "
                                 "handshake)") from None

    def __getitem__(self, ticket_id: bytes) -> resumption.Ticket:
        return self._cache[ticket_id]

    def __setitem__(self, ticket_id: bytes, ticket: resumption.Ticket) -> None:
        blob = ticket.encode()
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO tickets VALUES (?, ?)",
                             (bytes(ticket_id), blob))
            self._cache[bytes(ticket_id)] = ticket

    def __delitem__(self, ticket_id: bytes) -> None:
        with self._lock:
            del self._cache[ticket_id]
            self._db.execute("DELETE FROM tickets WHERE id = ?", (bytes(ticket_id),))

    def __iter__(self) -> Iterator[bytes]:
        return iter(list(self._cache))

    def __len__(self) -> int:
        return len(self._cache)

    def close(self) -> None:
        self._db.close()
