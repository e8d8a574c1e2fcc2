"""The log as the rest of the host uses it: append typed entries, close time-bound checkpoints,
hand out receipts and proofs."""

from __future__ import annotations

import time

from dtacore import entries, merkle

from dta.errors import StoreError
from dta.log.receipt import Receipt, make_receipt
from dta.log.store import CheckpointRecord, LogStore, Signer


class Log:
    """A LogStore plus its checkpoint policy: a checkpoint closes when `window_seconds` have passed
    since the last one (and something was appended) or `max_entries` are pending, whichever first.
    """

    def __init__(self, store: LogStore, signer: Signer, *, window_seconds: float = 1.0,
                 max_entries: int = 100_000, key_name: str | None = None, clock=time.time):
        if window_seconds <= 0 or max_entries <= 0:
            raise StoreError("checkpoint window and max entries must be positive")
        self.store = store
        self.signer = signer
        self.window = window_seconds
        self.max_entries = max_entries
        self.key_name = key_name or store.origin
        self.clock = clock
        last = store.last_checkpoint()
        self._last_size = last.tree_size if last else 0
        self._last_time = last.created_at if last else clock()

    def append(self, entry: entries.Entry | bytes) -> int:
        """Append durably (write-ahead: call before acting on the entry); returns the index."""
        data = entry.encode() if isinstance(entry, entries.Entry) else bytes(entry)
        index = self.store.append(data)
        self.maybe_checkpoint()
        return index

    def append_many(self, items) -> range:
        data = [e.encode() if isinstance(e, entries.Entry) else bytes(e) for e in items]
        indices = self.store.append_many(data)
        self.maybe_checkpoint()
        return indices

    def maybe_checkpoint(self, now: float | None = None) -> CheckpointRecord | None:
        now = self.clock() if now is None else now
        pending = self.store.size - self._last_size
        if pending <= 0:
            return None
        if pending >= self.max_entries or now - self._last_time >= self.window:
            return self.checkpoint(now=now)
        return None

    def checkpoint(self, now: float | None = None) -> CheckpointRecord:
        rec = self.store.close_checkpoint(self.signer, key_name=self.key_name,
                                          now=self.clock() if now is None else now)
        self._last_size, self._last_time = rec.tree_size, rec.created_at
        return rec

    def receipt(self, index: int, seq: int | None = None) -> Receipt:
        """Receipt for entry `index` against checkpoint `seq` (default: the first covering it)."""
        return make_receipt(self.store, index, seq)

    def consistency(self, size1: int, size2: int) -> bytes:
        path = self.store.consistency_proof(size1, size2)
        return merkle.encode_proof(merkle.PROOF_CONSISTENCY, size1, size2, path)
