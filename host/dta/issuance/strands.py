"""Work per key, in order, on a shared thread pool: a device's frames are handled one at a time
and in the order they arrived, different devices in parallel (so their log appends share one
group commit). Each key's queue is bounded: past `max_queued` a frame is dropped and counted
(a device that floods only delays itself; it retransmits what it needs)."""

from __future__ import annotations

import logging
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Hashable

log = logging.getLogger("dta.issuance")


class Strands:
    def __init__(self, workers: int, max_queued: int, name: str = "dta-issuance"):
        self.max_queued = max_queued
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix=name)
        self._lock = threading.Lock()
        self._queues: dict[Hashable, deque] = {}
        self.dropped = 0
        self.failed = 0

    def submit(self, key: Hashable, work: Callable[[], None]) -> bool:
        """Queue `work` behind the key's earlier work; False if the key's queue is full."""
        with self._lock:
            q = self._queues.get(key)
            if q is not None and len(q) >= self.max_queued:
                self.dropped += 1
                return False
            if q is None:
                self._queues[key] = q = deque()
                q.append(work)
                self._pool.submit(self._drain, key)
            else:
                q.append(work)
        return True

    def _drain(self, key: Hashable) -> None:
        while True:
            with self._lock:
                q = self._queues[key]
                work = q[0]
            try:
                work()
            except Exception:  # one frame's failure never stops the device's later frames
                self.failed += 1
                log.exception("handling a frame failed")
            with self._lock:
                q.popleft()
                if not q:
                    del self._queues[key]
                    return

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
