"""Token buckets: the per-subject share rate, and the budget of refusal entries the log takes.

A bucket holds up to ``burst`` tokens and refills at ``per_minute`` tokens a minute; a request
takes one. Buckets are kept per key (a subject, a client address) in a bounded table: past
``max_keys`` the least recently used bucket is dropped, which only ever gives that key a full
bucket again (never a refusal it did not earn). Thread-safe; the clock is injectable.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from dta.errors import ConfigError

# Keys remembered at once. A bucket is ~100 bytes: 100,000 of them is ~10 MB, and far more
# subjects than one D-TA serves in a minute.
DEFAULT_MAX_KEYS = 100_000


@dataclass(frozen=True)
class Rate:
    per_minute: float
    burst: int

    def __post_init__(self) -> None:
        if not (0 < self.per_minute <= 10_000_000 and 1 <= self.burst <= 10_000_000):
            raise ConfigError(f"a rate needs 0 < per_minute <= 10^7 and 1 <= burst <= 10^7, "
                              f"not {self.per_minute!r} / {self.burst!r}")


class Buckets:
    def __init__(self, rate: Rate, *, max_keys: int = DEFAULT_MAX_KEYS, clock=time.monotonic):
        self.rate = rate
        self.max_keys = max_keys
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: OrderedDict[object, list[float]] = OrderedDict()

    def take(self, key) -> float:
        """0.0 if ``key`` may go ahead (a token is taken), else the seconds until it may."""
        per_second = self.rate.per_minute / 60.0
        with self._lock:
            now = self._clock()
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = [float(self.rate.burst), now]
                self._buckets[key] = bucket
                if len(self._buckets) > self.max_keys:
                    self._buckets.popitem(last=False)
            else:
                self._buckets.move_to_end(key)
                bucket[0] = min(float(self.rate.burst), bucket[0] + (now - bucket[1]) * per_second)
                bucket[1] = now
            if bucket[0] >= 1.0:
                bucket[0] -= 1.0
                return 0.0
            return (1.0 - bucket[0]) / per_second


__all__ = ["Buckets", "DEFAULT_MAX_KEYS", "Rate"]
