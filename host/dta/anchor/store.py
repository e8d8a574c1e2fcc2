"""The anchorer's durable state: one row per step of the seal chain (0 = Birth Record).

SQLite in WAL mode, in its own file (<data dir>/anchors.sqlite3) so it never races the log's
schema. Each row keeps every signed candidate transaction for its step (the first one, one
rebuilt at a higher fee after a refusal, BIP 125 replacements) until one of them is confirmed.

States say what is true of a step: `pending` until the node has accepted one of its candidates
(signed candidates the node refused stay here, with the refusal), `unconfirmed` from the round
the node accepted one (`accepted_height`), then `confirmed` and `final` (k confirmations).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from dta.errors import StoreError

PENDING, UNCONFIRMED, CONFIRMED, FINAL = "pending", "unconfirmed", "confirmed", "final"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS anchors (
    step        INTEGER PRIMARY KEY,
    kind        INTEGER NOT NULL,
    sequence    INTEGER UNIQUE,
    tree_size   INTEGER,
    root        BLOB,
    payload     BLOB NOT NULL,
    state       TEXT NOT NULL,
    candidates  TEXT NOT NULL DEFAULT '[]',
    txid        TEXT,
    block_hash  TEXT,
    height      INTEGER,
    confirmations INTEGER NOT NULL DEFAULT 0,
    sent_height INTEGER,      -- the tip when the newest candidate was signed (signed_height)
    created     REAL NOT NULL,
    accepted_height INTEGER,
    refusal     TEXT
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
# Columns added after the first release: stores written before them gain them on open.
_ADDED_COLUMNS = (("accepted_height", "INTEGER"), ("refusal", "TEXT"))


@dataclass
class AnchorRow:
    step: int
    kind: int
    sequence: int | None
    tree_size: int | None
    root: bytes | None
    payload: bytes
    state: str
    candidates: list[dict] = field(default_factory=list)
    txid: str | None = None
    block_hash: str | None = None
    height: int | None = None
    confirmations: int = 0
    signed_height: int | None = None    # the tip when the newest candidate was signed
    accepted_height: int | None = None  # the tip when the node first accepted a candidate
    refusal: dict | None = None         # the node's last refusal: txid, kind, reason, height
    created: float = 0.0                # when the step was queued (the anchor window's clock)

    @property
    def current(self) -> dict | None:
        """The candidate the chain continues from: the confirmed one, else the newest."""
        if self.txid:
            for cand in self.candidates:
                if cand["txid"] == self.txid:
                    return cand
        return self.candidates[-1] if self.candidates else None

    def as_dict(self) -> dict:
        return {"step": self.step, "kind": "birth" if self.kind == 1 else "checkpoint",
                "sequence": self.sequence, "tree_size": self.tree_size,
                "root": self.root.hex() if self.root else None, "payload": self.payload.hex(),
                "state": self.state, "txid": self.txid or (self.current or {}).get("txid"),
                "block_hash": self.block_hash, "height": self.height,
                "confirmations": self.confirmations,
                "candidates": [c["txid"] for c in self.candidates],
                "fee": (self.current or {}).get("fee"), "vsize": (self.current or {}).get("vsize"),
                "signed_height": self.signed_height, "accepted_height": self.accepted_height,
                "refusal": self.refusal}


class AnchorStore:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.executescript(_SCHEMA)
            have = {r[1] for r in self.db.execute("PRAGMA table_info(anchors)")}
            for name, kind in _ADDED_COLUMNS:
                if name not in have:
                    self.db.execute(f"ALTER TABLE anchors ADD COLUMN {name} {kind}")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: {exc}") from None

    def close(self) -> None:
        self.db.close()

    @contextlib.contextmanager
    def transaction(self):
        """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error): the connection is in autocommit mode."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def add(self, kind: int, payload: bytes, sequence=None, tree_size=None, root=None, *,
            created: float | None = None) -> AnchorRow:
        created = time.time() if created is None else created
        with self.transaction():
            nxt = self.db.execute("SELECT COALESCE(MAX(step) + 1, 0) FROM anchors").fetchone()[0]
            self.db.execute("INSERT INTO anchors(step, kind, sequence, tree_size, root, payload,"
                            " state, created) VALUES (?,?,?,?,?,?,?,?)",
                            (nxt, kind, sequence, tree_size, root, payload, PENDING, created))
        return self.get(nxt)

    def _row(self, r) -> AnchorRow:
        return AnchorRow(step=r[0], kind=r[1], sequence=r[2], tree_size=r[3],
                         root=bytes(r[4]) if r[4] is not None else None, payload=bytes(r[5]),
                         state=r[6], candidates=json.loads(r[7]), txid=r[8], block_hash=r[9],
                         height=r[10], confirmations=r[11], signed_height=r[12],
                         accepted_height=r[13], refusal=json.loads(r[14]) if r[14] else None,
                         created=r[15])

    _COLS = ("step, kind, sequence, tree_size, root, payload, state, candidates, txid, block_hash,"
             " height, confirmations, sent_height, accepted_height, refusal, created")

    def get(self, step: int) -> AnchorRow | None:
        r = self.db.execute(f"SELECT {self._COLS} FROM anchors WHERE step=?", (step,)).fetchone()
        return self._row(r) if r else None

    def last_checkpoint(self) -> AnchorRow | None:
        """The newest checkpoint queued (the Birth Record is not one)."""
        r = self.db.execute(f"SELECT {self._COLS} FROM anchors WHERE sequence IS NOT NULL "
                            "ORDER BY step DESC LIMIT 1").fetchone()
        return self._row(r) if r else None

    def by_sequence(self, sequence: int) -> AnchorRow | None:
        r = self.db.execute(f"SELECT {self._COLS} FROM anchors WHERE sequence=?",
                            (sequence,)).fetchone()
        return self._row(r) if r else None

    def all(self) -> list[AnchorRow]:
        return [self._row(r)
                for r in self.db.execute(f"SELECT {self._COLS} FROM anchors ORDER BY step")]

    def save(self, row: AnchorRow) -> None:
        self.db.execute("UPDATE anchors SET state=?, candidates=?, txid=?, block_hash=?, height=?,"
                        " confirmations=?, sent_height=?, accepted_height=?, refusal=?"
                        " WHERE step=?",
                        (row.state, json.dumps(row.candidates), row.txid, row.block_hash,
                         row.height, row.confirmations, row.signed_height, row.accepted_height,
                         json.dumps(row.refusal) if row.refusal else None, row.step))
