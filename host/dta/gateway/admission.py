"""What an unknown key may cost: token buckets on new devices, over all sources and per source.

Anyone can make a key and sign a hello with it, so a hello from a key the registry has never seen
is only admitted (as a pending device) while both buckets have a token: the global one and the
one of its source (the MQTT broker, or one serial line). Each bucket holds one minute's worth
and refills continuously. Known devices never spend tokens. The per-source table is bounded
(least recently used source dropped first), so a stream of made-up sources cannot grow it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Callable

# Sources a gateway tells apart: the broker plus a few serial lines in practice; 256 is far
# beyond any gateway's ports and keeps the table small whatever names it is fed.
MAX_SOURCES = 256
SECONDS_PER_MINUTE = 60.0


class TokenBucket:
    """`capacity` tokens, refilled at `capacity` per minute; `take()` spends one if there is."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic):
        if per_minute < 1:
            raise ValueError("a bucket needs at least one token per minute")
        self.capacity = float(per_minute)
        self.rate = per_minute / SECONDS_PER_MINUTE
        self.clock = clock
        self.tokens = self.capacity
        self.stamp = clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + max(0.0, now - self.stamp) * self.rate)
        self.stamp = now

    def available(self) -> bool:
        self._refill()
        return self.tokens >= 1.0

    def take(self) -> bool:
        self._refill()
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


class Admission:
    """`admit(source)` -> None when a new device from `source` may be registered, else the
    reason it may not (a sentence for the refusal's detail)."""

    def __init__(self, per_minute: int, per_source_per_minute: int,
                 clock: Callable[[], float] = time.monotonic):
        self.per_source = per_source_per_minute
        self.clock = clock
        self.overall = TokenBucket(per_minute, clock)
        self._sources: OrderedDict[str, TokenBucket] = OrderedDict()

    def _bucket(self, source: str) -> TokenBucket:
        bucket = self._sources.pop(source, None)
        if bucket is None:
            bucket = TokenBucket(self.per_source, self.clock)
            while len(self._sources) >= MAX_SOURCES:
                self._sources.popitem(last=False)
        self._sources[source] = bucket
        return bucket

    def admit(self, source: str) -> str | None:
        bucket = self._bucket(source)
        if not bucket.available():
            return (f"more than {self.per_source} new devices in a minute from this source "
                    "(gateway.new_devices_per_source_per_minute)")
        if not self.overall.take():
            return (f"more than {int(self.overall.capacity)} new devices in a minute "
                    "(gateway.new_devices_per_minute)")
        bucket.take()
        return None
