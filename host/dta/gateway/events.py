"""Device events into the D-TA's log: the gateway's half of EVENT / EVENT_ACK (docs/channel.md,
"Device events").

A transport hands every EVENT frame to `EventIntake.submit` with the key id its topic names
(MQTT; None on a serial line), how to answer the device (`reply(kid, ack frame)`: its ack
topic, or the line it came on) and how to release the frame at the transport (`done()`: the
MQTT PUBACK, sent only once the frame is dealt with, so a gateway that dies with events in its
queue gets them again from the broker's persistent session, in order). One writer thread takes
whatever has queued up since its last turn as one batch (at most MAX_BATCH frames):

1. each frame decoded strictly (dtacore.channel.decode_event); the topic's key id must be the
   frame's;
2. the batch's devices read from the registry in one query: only an enrolled device's events
   are taken (unknown, pending, revoked: refused; a pending key costs no log entry);
3. the signature checked with the registered key (DeviceEvent.signature_valid, dta.signing);
4. the accepted events appended in one transaction, one entry per (device key, counter)
   (LogStore.append_events: the index is in the log file, so it survives restarts and holds
   for redeliveries and device retries alike);
5. once that transaction committed, an EVENT_ACK signed by the D-TA's identity key (the key
   the log signs its checkpoints with) goes back to each device of the batch, naming the
   highest counter of its events in the batch (an ack covers every counter up to its own; a
   duplicate is acked too: the device needs it), and the frames are released.

A refused frame changes nothing but its reason's counter (the registry's rejections, as for
hellos: `event-malformed`, `event-oversized`, `event-topic-mismatch`, `event-unknown-device`,
`event-not-enrolled`, `event-revoked`, `event-bad-signature`, `event-counter-reused`, the last
for a counter the log holds for another event) and gets no ack. An ack covers every counter
up to its own on the device (dtanode.outbox), so the gateway never acks an event before the
ones that came before it from that device are logged: events are taken in arrival order by one
thread, a full queue holds the transport back instead of dropping frames, and a batch the log
could not take is tried again (with a pause) rather than skipped.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

from dta import signing
from dta.errors import DecodeError, EncodeError
from dta.gateway.registry import ENROLLED, REVOKED
from dtacore import channel, entries, wire

log = logging.getLogger("dta.gateway")

# Frames waiting for the writer: a few batches' worth (~350 bytes each at most: ~3.5 MB).
# Beyond it `submit` waits, which holds the transport's reader back (the broker keeps the rest).
MAX_QUEUED = 10_000
# Events per transaction: large enough that one fsync serves thousands of events, small enough
# that a batch's acks are not held back long behind it.
MAX_BATCH = 2_000
# How long the writer waits for a first frame before looking at its stop flag.
IDLE_WAIT = 0.2
# A batch the log refused is tried again after this pause, doubled up to RETRY_CAP.
RETRY_FIRST, RETRY_CAP = 0.1, 5.0
# One summary line (logged, duplicates, refused) per this many seconds, when there were any.
SUMMARY_EVERY = 60.0
SHOWN_ID = 40
# Threads verifying the signatures of a large batch, and the events each takes at a time.
VERIFIERS = min(4, os.cpu_count() or 1)
VERIFY_CHUNK = 64

Reply = Callable[[bytes, bytes], None]


@dataclass(frozen=True)
class Arrival:
    frame: bytes
    claimed: str | None  # the key id the transport names (MQTT topic), None for serial
    source: str
    reply: Reply
    done: Callable[[], None] | None = None


@dataclass(frozen=True)
class _Taken:
    arrival: Arrival
    kid: bytes
    counter: int
    digest: bytes
    data: bytes


def _verify_chunk(jobs: list) -> list[bool]:
    return [signing.verify(key, digest, sig) for key, digest, sig in jobs]


class EventIntake:
    """The queue and writer thread of one gateway's device events. `start()`, `submit(...)`
    from any transport thread, `stop()` (what is queued is taken first)."""

    def __init__(self, gateway, log_, dta_id: bytes, *, max_queued: int = MAX_QUEUED,
                 max_batch: int = MAX_BATCH):
        self.gateway = gateway
        self.log = log_
        self.store = log_.store
        self.signer = log_.signer
        self.dta8 = bytes(dta_id[:8])
        self.max_batch = max_batch
        self.counts = {"logged": 0, "duplicate": 0}  # since start; refusals: the registry
        self.batches = 0  # batches taken (each at most one log transaction)
        self.max_queued = max_queued
        self.max_frame = min(gateway.cfg.gateway.max_frame, wire.MAX_FRAME)
        # The queue: a list under one condition, so the writer takes a whole batch with one
        # lock and wakes a waiting transport once per batch, not once per frame.
        self._queue: list[Arrival] = []
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._summary = [time.monotonic(), 0, 0, 0]  # since, logged, duplicates, refused
        self._full_logged = 0.0

    # -- the transports' side --------------------------------------------------------------

    def submit(self, arrival: Arrival) -> None:
        """Queue one EVENT frame; waits while the queue is full (never drops a frame)."""
        if len(arrival.frame) > self.max_frame:
            self._refuse(arrival, arrival.claimed, "event-oversized",
                         f"{len(arrival.frame)} bytes, at most {self.max_frame}")
            return
        with self._cond:
            while len(self._queue) >= self.max_queued:
                if self._stop.is_set():
                    return
                now = time.monotonic()
                if now - self._full_logged >= SUMMARY_EVERY:
                    self._full_logged = now
                    log.warning("device events arrive faster than the log takes them (%d "
                                "queued): the transport is held back, nothing is dropped",
                                len(self._queue))
                self._cond.wait(IDLE_WAIT)
            self._queue.append(arrival)
            if len(self._queue) == 1:
                self._cond.notify_all()  # the writer waits only on an empty queue

    @property
    def queued(self) -> int:
        return len(self._queue)

    def _next_batch(self) -> list[Arrival]:
        with self._cond:
            if not self._queue:
                self._cond.wait(IDLE_WAIT)
            batch = self._queue[:self.max_batch]
            del self._queue[:self.max_batch]
            if batch:
                self._cond.notify_all()  # a transport waiting for room
            return batch

    # -- the writer ------------------------------------------------------------------------

    def start(self) -> "EventIntake":
        if self._thread is None:
            self._stop.clear()
            self._pool = ThreadPoolExecutor(VERIFIERS, thread_name_prefix="event verify")
            self._thread = threading.Thread(target=self._run, name="gateway events",
                                            daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Take what is queued, then end the writer thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if not batch:
                if self._stop.is_set():
                    return
                self._maybe_summary()
                continue
            try:
                self._take(batch)
            except Exception as exc:  # a listener or a transport failing: the thread goes on
                log.debug("device event batch failed", exc_info=True)
                self.gateway.internal_failure(f"a batch of {len(batch)} device events: "
                                              f"{type(exc).__name__}: {exc}", "events")
            self._maybe_summary()

    def _take(self, batch: list[Arrival]) -> None:
        self.batches += 1
        taken = self._check(batch)
        if not taken:
            return
        results = self._retrying(
            len(taken), lambda: self.store.append_events([(t.digest, t.data) for t in taken]))
        if results is None:
            return  # stopped while the log refused the batch: the transports hold the frames
        # One ack per device (and way back) per batch, for its highest counter: an ack covers
        # every counter up to its own, and all of them that came before are taken by now.
        acks: dict[tuple[bytes, Reply], int] = {}
        done = []
        for t, res in zip(taken, results, strict=True):
            if res.digest != t.digest:
                self._refuse(t.arrival, t.kid.hex(), "event-counter-reused",
                             f"event #{t.counter} of this device is entry #{res.index}, "
                             "another event")
                continue
            key = (t.kid, t.arrival.reply)
            if acks.get(key, -1) < t.counter:
                acks[key] = t.counter
            done.append((t, res))
        for (kid, reply), upto in acks.items():
            reply(kid, channel.ack_frame(kid, upto, self.dta8, self.signer.sign_digest(
                channel.ack_digest(kid, upto))))
        for t, res in done:
            self._release(t.arrival)
            self._count("logged" if res.new else "duplicate")
            self.gateway.device_event(t.kid.hex(), t.counter, res.index, res.new,
                                      t.arrival.source)

    def _retrying(self, n: int, step: Callable[[], object]):
        # step() until it works (the registry or the log could not be read or written: a busy
        # or full disk), or None once stopped. Skipping would let a later ack cover these.
        pause = RETRY_FIRST
        while True:
            try:
                return step()
            except Exception as exc:
                self.gateway.internal_failure(
                    f"{n} device events not logged yet, tried again in {pause:.1f} s: "
                    f"{type(exc).__name__}: {exc}", "events")
                if self._stop.wait(pause):
                    return None
                pause = min(pause * 2, RETRY_CAP)

    # -- checks 1 to 3 ---------------------------------------------------------------------

    def _check(self, batch: list[Arrival]) -> list[_Taken]:
        decoded = []
        for a in batch:
            try:
                kid, counter, kind, payload, sig = channel.decode_event(a.frame)
            except (DecodeError, EncodeError) as exc:
                self._refuse(a, a.claimed, "event-malformed", str(exc))
                continue
            if a.claimed is not None and a.claimed != kid.hex():
                # The topic's text is escaped once, with the detail (Gateway.refuse).
                self._refuse(a, a.claimed, "event-topic-mismatch",
                             f"the topic names '{a.claimed[:SHOWN_ID]}', the frame's device "
                             f"is {kid.hex()}")
                continue
            decoded.append((a, kid, counter, kind, payload, sig))
        if not decoded:
            return []
        devices = self._retrying(
            len(decoded), lambda: self.gateway.registry.keys([d[1].hex() for d in decoded]))
        if devices is None:
            return []
        now_ms = int(time.time() * 1000)
        known = []
        for a, kid, counter, kind, payload, sig in decoded:
            row = devices.get(kid.hex())
            why = self._state_refusal(row)
            if why is not None:
                self._refuse(a, kid.hex(), *why)
                continue
            entry = entries.DeviceEvent(row[0], counter, kind, payload, sig, now_ms)
            # What entry.signature_valid checks, its digest computed once.
            known.append((a, kid, entry, entry.signed_digest()))
        out = []
        for (a, kid, entry, digest), ok in zip(known, self._verify(known), strict=True):
            if not ok:
                self._refuse(a, kid.hex(), "event-bad-signature", f"event #{entry.counter} "
                             "is not signed by the device's registered key")
                continue
            out.append(_Taken(a, kid, entry.counter, digest, entry.encode()))
        return out

    def _verify(self, known: list) -> list[bool]:
        # libsecp256k1 lets go of the interpreter lock while it verifies, so a large batch is
        # verified by VERIFIERS threads in chunks, beside the transports' threads.
        jobs = [(e.device_key, digest, e.signature) for _, _, e, digest in known]
        if self._pool is None or len(jobs) < 2 * VERIFY_CHUNK:
            return _verify_chunk(jobs)
        chunks = [jobs[i:i + VERIFY_CHUNK] for i in range(0, len(jobs), VERIFY_CHUNK)]
        return [ok for part in self._pool.map(_verify_chunk, chunks) for ok in part]

    @staticmethod
    def _state_refusal(row) -> tuple[str, str] | None:
        if row is None:
            return "event-unknown-device", "no device with this key id in the registry"
        if row[1] == REVOKED:
            return "event-revoked", "this device's key was revoked"
        if row[1] != ENROLLED:
            return "event-not-enrolled", ("the device waits for `dta devices enroll`: its "
                                          "events are logged once it is enrolled")
        return None

    # -- outcomes --------------------------------------------------------------------------

    def _refuse(self, arrival: Arrival, kid: str | None, reason: str, detail: str) -> None:
        try:
            self.gateway.refuse(kid, reason, detail, arrival.source)
        finally:
            self._release(arrival)
        self._summary[3] += 1

    @staticmethod
    def _release(arrival: Arrival) -> None:
        if arrival.done is not None:
            arrival.done()

    def _count(self, outcome: str) -> None:
        self.counts[outcome] += 1
        self._summary[1 if outcome == "logged" else 2] += 1

    def _maybe_summary(self) -> None:
        since, logged, dups, refused = self._summary
        now = time.monotonic()
        if now - since < SUMMARY_EVERY:
            return
        self._summary = [now, 0, 0, 0]
        if logged or dups or refused:
            log.info("device events in the last %d s: %d logged, %d duplicates acknowledged "
                     "again, %d refused; log at %d entries", int(now - since), logged, dups,
                     refused, self.store.size,
                     extra={"fields": {"kind": "events-summary", "logged": logged,
                                       "duplicates": dups, "refused": refused}})
