# The boot-loop guard and what the previous boot ended with, in one small atomic record:
#
#   guard = last good boot u32 | action u8 | reason u8 | failures u16
#
# A boot is good once it reached the gateway (its hello acknowledged by the broker, or the
# serial line written) or went to its planned deep sleep. The boots since the last good one,
# before this one, are the consecutive failed boots; after cfg["safe_mode_boots"] of them the
# agent enters safe mode instead of looping (dtanode.agent). `action` is what the agent itself
# did last (reset or deep sleep after too many failures, or the sleep of the duty cycle) and
# why; the next boot report names it when the reset cause agrees (a watchdog reset or a power
# cut after it make it stale).
#
# Backoff, here too: exponential with equal jitter (half the delay fixed, half random), so the
# gap before attempt n+1 is never shorter than the one before attempt n, up to the cap.

import os
import struct

from dtacore.errors import DecodeError
from dtanode import records

MAGIC = b"DTAG"
FILE = "guard.bin"
NONE = 0
RESET = 1
DEEPSLEEP = 2
CYCLE = 3  # the duty cycle's planned deep sleep
ACTIONS = {NONE: "none", RESET: "reset", DEEPSLEEP: "deepsleep", CYCLE: "cycle-sleep"}
# The failure steps the agent reports (dtanode.transport.LinkError.step and the agent's own).
REASONS = ("none", "wifi", "dns", "connect", "publish", "link", "silent", "refused", "crash",
           "entropy", "identity")


class Guard:
    def __init__(self, root):
        self.path = root + "/" + FILE
        self.last_good, self.action, self.reason, self.failures = 0, NONE, 0, 0
        try:
            raw = records.load(self.path, MAGIC)
            if len(raw) == 8:
                self.last_good, self.action, self.reason, self.failures = struct.unpack(
                    ">IBBH", raw)
        except (records.Missing, DecodeError):
            pass  # a new device, or a damaged record: count from here

    def failed_boots(self, boot):
        return max(0, boot - 1 - self.last_good)

    def _store(self):
        records.store(self.path, MAGIC, struct.pack(">IBBH", self.last_good, self.action,
                                                    self.reason, min(self.failures, 0xFFFF)))

    def mark_good(self, boot):
        if self.last_good != boot:
            self.last_good = boot
            self._store()

    def record_exit(self, boot, action, reason, failures, good):
        # Before a reset or a deep sleep: one write holds both the verdict and the action.
        if good:
            self.last_good = boot
        self.action, self.failures = action, failures
        self.reason = REASONS.index(reason) if reason in REASONS else 0
        self._store()

    def previous(self, cause):
        # -> (action name, reason, failures) of the previous boot's planned end, if this boot's
        # reset cause is that end's; else ("none", "none", 0).
        fits = ((self.action == RESET and cause == "soft")
                or (self.action in (DEEPSLEEP, CYCLE) and cause == "deepsleep"))
        if not fits:
            return "none", "none", 0
        return ACTIONS[self.action], REASONS[self.reason], self.failures


class Backoff:
    def __init__(self, base_ms, cap_ms):
        self.base = base_ms
        self.cap = cap_ms
        self.attempt = 0

    def next(self):
        # -> the delay before the next attempt, ms: d/2 + random(0..d/2), d = min(cap, base*2^n)
        d = self.base
        for _ in range(self.attempt):
            d *= 2
            if d >= self.cap:
                break
        d = min(d, self.cap)
        self.attempt += 1
        half = d // 2
        return d - half + int.from_bytes(os.urandom(4), "big") % (half + 1)

    def reset(self):
        self.attempt = 0
