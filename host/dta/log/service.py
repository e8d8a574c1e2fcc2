"""The log as the rest of the host uses it: append typed entries (write-ahead, group-committed),
close time-bound checkpoints on the log's own tick, hand out receipts and proofs."""

from __future__ import annotations

import threading
import time
from typing import Callable

from dta.errors import StoreError
from dta.log.store import CheckpointRecord, LogStore, Signer
from dta.receipt import Receipt
from dtacore import entries, merkle


class GroupCommit:
    """Leader/follower group commit: concurrent callers of ``append`` share one transaction (one
    fsync). The first caller to find no commit in flight becomes the leader and commits every
    entry queued so far; callers arriving meanwhile queue up and the next leader takes them all.
    Every caller returns only after the transaction holding its entry committed, so an
    acknowledged append is durable. No timer, no extra thread: a lone caller commits at once."""

    def __init__(self, store: LogStore, max_batch: int = 10_000):
        self.store = store
        self.max_batch = max_batch
        self._cv = threading.Condition()
        self._queue: list[tuple[bytes, list]] = []
        self._busy = False

    def append(self, data: bytes) -> int:
        # Checked here, not in the batch: one bad entry must not fail its batch-mates.
        if not data or len(data) > entries.MAX_ENTRY_SIZE:
            raise StoreError("entry is empty or over MAX_ENTRY_SIZE")
        slot: list = []  # filled with (index, error) by whichever leader commits `data`
        with self._cv:
            self._queue.append((data, slot))
            while not slot:
                if self._busy:
                    self._cv.wait()
                    continue
                self._busy = True
                batch, self._queue = (self._queue[:self.max_batch],
                                      self._queue[self.max_batch:])
                self._cv.release()
                try:
                    self._commit(batch)
                finally:
                    self._cv.acquire()
                    self._busy = False
                    self._cv.notify_all()
        index, error = slot[0]
        if error is not None:
            raise error
        return index

    def _commit(self, batch) -> None:
        try:
            indices = self.store.append_many([d for d, _ in batch])
        except BaseException as exc:  # every caller in the batch sees the failure
            err = exc if isinstance(exc, Exception) else StoreError("append interrupted")
            for _, slot in batch:
                slot.append((None, err))
            if err is not exc:
                raise
            return
        for i, (_, slot) in zip(indices, batch, strict=True):
            slot.append((i, None))


class Log:
    """A LogStore plus its checkpoint policy: a checkpoint closes when `window_seconds` have passed
    since the last one (and something was appended) or `max_entries` are pending, whichever first.
    Appends never sign: checkpoints close on the log's own tick (`tick`, `run_checkpoints`), so a
    caller that appends inside its own transaction (the gateway's registry) holds no signer.
    """

    @classmethod
    def open(cls, cfg, signer: Signer) -> "Log":
        """The log of the data directory in `cfg`, signing checkpoints with `signer` (the
        authority's identity key: dta.authority.identity.open_signer)."""
        return cls(LogStore.open(cfg), signer, window_seconds=cfg.log.window_seconds,
                   max_entries=cfg.log.max_entries)

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
        self._group = GroupCommit(store)
        self._cp_lock = threading.Lock()
        last = store.last_checkpoint()
        self._last_size = last.tree_size if last else 0
        self._last_time = last.created_at if last else clock()

    def append(self, entry: entries.Entry | bytes) -> int:
        """Append durably (write-ahead: call before acting on the entry); returns the index.
        Thread-safe; concurrent calls are group-committed."""
        data = entry.encode() if isinstance(entry, entries.Entry) else bytes(entry)
        return self._group.append(data)

    def append_many(self, items) -> range:
        data = [e.encode() if isinstance(e, entries.Entry) else bytes(e) for e in items]
        return self.store.append_many(data)

    def maybe_checkpoint(self, now: float | None = None) -> CheckpointRecord | None:
        """Close a checkpoint if the window or the count says so (`tick` calls this; so does
        `dta log checkpoint --if-due`)."""
        with self._cp_lock:
            now = self.clock() if now is None else now
            pending = self.store.size - self._last_size
            if pending <= 0:
                return None
            if pending >= self.max_entries or now - self._last_time >= self.window:
                return self._close(now)
            return None

    def checkpoint(self, now: float | None = None) -> CheckpointRecord:
        with self._cp_lock:
            return self._close(self.clock() if now is None else now)

    def _close(self, now: float) -> CheckpointRecord:
        rec = self.store.close_checkpoint(self.signer, key_name=self.key_name, now=now)
        self._last_size, self._last_time = rec.tree_size, rec.created_at
        return rec

    def tick(self) -> CheckpointRecord | None:
        """One turn of the checkpoint clock: pick up entries other processes appended to the
        same file (`dta log append`), then close a checkpoint if one is due. A checkpoint
        another process already closed over the same size is not repeated."""
        size = self.store.refresh()
        last = self.store.last_checkpoint()
        if last is not None and last.tree_size >= size:
            self._last_size, self._last_time = last.tree_size, last.created_at
            return None
        return self.maybe_checkpoint()

    def run_checkpoints(self, stop: threading.Event,
                        on_checkpoint: Callable[[CheckpointRecord], None] | None = None) -> None:
        """Tick once per window until `stop` is set (a service's main loop or thread)."""
        while not stop.wait(self.window):
            cp = self.tick()
            if cp is not None and on_checkpoint is not None:
                on_checkpoint(cp)

    def receipt(self, index: int, seq: int | None = None) -> Receipt:
        """Receipt for entry `index` against checkpoint `seq` (default: the first covering it)."""
        return self.store.receipt(index, seq)

    def consistency(self, *, size1: int, size2: int) -> bytes:
        path = self.store.consistency_proof(size1=size1, size2=size2)
        return merkle.encode_consistency(size1=size1, size2=size2, path=path)
