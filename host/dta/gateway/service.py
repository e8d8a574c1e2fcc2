"""The gateway service: verifies device hellos and registers the devices; logs their events.

Frames arrive over MQTT (dta.gateway.mqtt_link, paho) or a serial line
(dta.gateway.serial_link); hellos end in `handle_frame`, device events (with a log: `log=`, the
D-TA's dta.log.Log) in `submit_event` (dta.gateway.events). Every frame ends in exactly one
event: `registered` (first hello of a key: the device is pending until `dta devices enroll`,
and nothing is logged for it), `hello` (a known device, higher boot counter), `event` (a device
event appended to the log and acknowledged), `duplicate` (an event the log holds already:
acknowledged again), `rejected` (a reason code and a detail; nothing changes but the
per-reason counter) or `failed` (the gateway itself could not finish, e.g. the registry could
not be written; nothing is stored).

An unknown key costs a token of the rate limit (dta.gateway.admission) and a row of the bounded
pending table (dta.gateway.registry); the transparency log only hears of a device when the
operator enrols or revokes it (dta.gateway.enrolment). Each event is logged once, on the
`dta.gateway` logger, with everything a device or a topic chose escaped and cut to length.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable

from dta.config import Config
from dta.errors import DecodeError, VerifyError
from dta.gateway.admission import Admission
from dta.gateway.events import Arrival, EventIntake
from dta.gateway.registry import EVICTED, Registry
from dta.oidc.text import printable
from dtacore import backend, wire

log = logging.getLogger("dta.gateway")

MQTT_SOURCE = "mqtt"
# Attacker-chosen text (a topic's last level, a detail quoting it) is shown this long at most:
# a key id is 16 characters, so anything past 40 is not one.
SHOWN_ID = 40
SHOWN_DETAIL = 120
# Refusals of one reason logged per window; the rest are counted (exactly, in the registry) and
# summed up in the next line of that reason, so a flood of bad frames cannot flood the log.
REFUSAL_LINES_PER_WINDOW = 10
REFUSAL_WINDOW = 60.0

# Device events are many (thousands a second): one line each only at DEBUG; the event writer
# logs a summary a minute (dta.gateway.events) and the metrics count them.
LEVELS = {"registered": logging.INFO, "hello": logging.INFO, "event": logging.DEBUG,
          "duplicate": logging.DEBUG, "rejected": logging.WARNING, "failed": logging.ERROR}


@dataclass(frozen=True)
class Event:
    kind: str           # registered | hello | event | duplicate | rejected | failed
    key_id: str | None  # as claimed (escaped) for a refused frame, as derived otherwise
    reason: str | None = None
    detail: str | None = None
    board: str | None = None
    firmware: str | None = None
    boot: int | None = None
    state: str | None = None
    source: str | None = None
    counter: int | None = None  # a device event's counter (its id on the device)
    entry: int | None = None    # the log entry holding that event

    def describe(self) -> str:
        """One line for a gateway operator."""
        where = f" on {self.source}" if self.source else ""
        if self.kind == "registered":
            return (f"new device {self.key_id} ({self.board}, firmware {self.firmware}){where}, "
                    f"pending approval (boot #{self.boot}): `dta devices enroll {self.key_id}` "
                    "enrols it")
        if self.kind == "hello":
            return f"device {self.key_id} back online (boot #{self.boot}, {self.state})"
        if self.kind == "event":
            return f"device {self.key_id} event #{self.counter} logged as entry #{self.entry}"
        if self.kind == "duplicate":
            return (f"device {self.key_id} event #{self.counter} again{where}: entry "
                    f"#{self.entry} holds it, acknowledged again")
        if self.kind == "failed":
            return f"could not process a frame{where} ({self.detail}); nothing was stored"
        return (f"refused a frame from {self.key_id or 'an unknown device'}{where}: "
                f"{self.reason} ({self.detail})")

    def fields(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


class RefusalLines:
    """At most `per_window` log lines per refusal reason per `window` seconds."""

    def __init__(self, per_window: int = REFUSAL_LINES_PER_WINDOW,
                 window: float = REFUSAL_WINDOW, clock: Callable[[], float] = time.monotonic):
        self.per_window, self.window, self.clock = per_window, window, clock
        self._seen: dict[str, list] = {}  # reason -> [window start, lines, suppressed]

    def allow(self, reason: str) -> tuple[bool, int]:
        """(log this one?, how many were suppressed since the last line of this reason)."""
        now = self.clock()
        slot = self._seen.get(reason)
        if slot is None or now - slot[0] >= self.window:
            suppressed = slot[2] if slot else 0
            self._seen[reason] = [now, 1, 0]
            return True, suppressed
        if slot[1] < self.per_window:
            slot[1] += 1
            return True, 0
        slot[2] += 1
        return False, 0


class Gateway:
    """Verifies frames and keeps the registry. `listeners` see every Event (the demo narrates
    them; tests collect them). MQTT: `start()` / `stop()` (dta.gateway.mqtt_link.MqttLink);
    `dta_id` names the D-TA in the derived MQTT client id."""

    def __init__(self, cfg: Config, registry: Registry | None = None, *,
                 dta_id: bytes | None = None, log=None,
                 clock: Callable[[], float] = time.monotonic):
        """`log` (the D-TA's dta.log.Log, whose signer is its identity key) turns device
        events on: they are appended to it and acknowledged with that key, for `dta_id`."""
        if log is not None and dta_id is None:
            raise ValueError("device events need the D-TA id (dta_id): its acks name it")
        self.cfg = cfg
        self.registry = registry or Registry(cfg.registry_db, max_pending=cfg.gateway.max_pending)
        self.dta_id = dta_id
        self.log = log
        self.intake = None if log is None else EventIntake(self, log, dta_id)
        self.admission = Admission(cfg.gateway.new_devices_per_minute,
                                   cfg.gateway.new_devices_per_source_per_minute, clock)
        self.listeners: list[Callable[[Event], None]] = []
        self.refusal_lines = RefusalLines(clock=clock)
        self.mqtt = None  # the MqttLink while started

    # --- frame handling (transport-independent) -------------------------------------------

    def handle_hello(self, topic: str, payload: bytes) -> Event:
        """A hello from MQTT: the topic's last level must name the frame's key id."""
        prefix = self.cfg.mqtt.topic_prefix + "/hello/"
        claimed = topic[len(prefix):] if topic.startswith(prefix) else ""
        return self.handle_frame(payload, claimed, source=MQTT_SOURCE)

    def handle_frame(self, payload: bytes, claimed_kid: str | None = None, *,
                     source: str = "") -> Event:
        """Verify and register one hello frame. `claimed_kid` is what the transport says the
        sender is (the MQTT topic); None where the transport names no sender (serial)."""
        shown = printable(claimed_kid, SHOWN_ID) if claimed_kid else ""
        if len(payload) > min(self.cfg.gateway.max_frame, wire.MAX_FRAME):
            return self._reject(shown, "oversized", f"{len(payload)} bytes", source)
        try:
            hello = wire.verify_hello(wire.decode_hello(payload), backend.verify)
        except DecodeError as exc:
            return self._reject(shown, "malformed", str(exc), source)
        except VerifyError as exc:
            return self._reject(shown, "bad-signature", str(exc), source)
        kid = hello.key_id.hex()
        if claimed_kid is not None and claimed_kid != kid:
            return self._reject(shown, "topic-mismatch", f"the topic names {shown!r}, the "
                                f"frame's key is {kid}", source)
        out = self.registry.record_hello(kid, hello.pubkey, hello.board, hello.firmware,
                                         hello.boot, source=source,
                                         admit=lambda: self.admission.admit(source))
        if out.refusal:
            return self._reject(kid, *out.refusal, source)
        for gone in out.evicted:
            self._log_evicted(gone)
        dev = out.device
        return self._emit(Event("registered" if out.new else "hello", kid, board=dev.board,
                                firmware=dev.firmware, boot=dev.boot, state=dev.state,
                                source=source or None))

    def submit_event(self, frame: bytes, claimed_kid: str | None, *, source: str,
                     reply: Callable[[bytes, bytes], None],
                     done: Callable[[], None] | None = None) -> None:
        """One EVENT frame, to be logged and acknowledged by the event writer: `reply(kid,
        ack frame)` sends the EVENT_ACK, `done()` releases the frame at the transport. The
        outcome is an event later (`event`, `duplicate`, `rejected`)."""
        if self.intake is None:
            self._reject(printable(claimed_kid, SHOWN_ID) if claimed_kid else "",
                         "event-no-log", "this gateway runs without the D-TA's log", source)
            if done is not None:
                done()
            return
        self.intake.submit(Arrival(bytes(frame), claimed_kid, source, reply, done))

    def refuse(self, kid: str | None, reason: str, detail: str, source: str) -> Event:
        """A refused frame (counted per reason; `kid` as claimed, escaped here)."""
        return self._reject(printable(kid, SHOWN_ID) if kid else "", reason, detail, source)

    def device_event(self, kid: str, counter: int, entry: int, new: bool, source: str) -> None:
        """A device event the log holds and the device was sent the ack for."""
        if not self.listeners and not log.isEnabledFor(LEVELS["event"]):
            return  # thousands a second: no event object nobody reads
        self._emit(Event("event" if new else "duplicate", kid, counter=counter, entry=entry,
                         source=source or None))

    def internal_failure(self, detail: str, source: str) -> Event:
        return self._emit(Event("failed", None, reason="internal",
                                detail=printable(detail, SHOWN_DETAIL),
                                source=printable(source, SHOWN_DETAIL)))

    def receive(self, handle: Callable[[], Event], source: str) -> Event:
        """Run one transport callback's handling; an internal error (the registry failing)
        becomes a `failed` event and never stops the transport's reader."""
        try:
            return handle()
        except Exception as exc:
            log.debug("internal error handling a frame from %s", printable(source),
                      exc_info=True)
            return self._emit(Event("failed", None, reason="internal",
                                    detail=f"{type(exc).__name__}: {exc}",
                                    source=printable(source, SHOWN_DETAIL)))

    def count_link_error(self, reason: str, detail: str, source: str = "") -> Event:
        """A transport-level refusal (serial: bad length or CRC): counted like any other."""
        return self._reject("", reason, detail, source)

    def _reject(self, kid: str, reason: str, detail: str, source: str) -> Event:
        self.registry.count_rejection(reason)
        return self._emit(Event("rejected", kid or None, reason=reason,
                                detail=printable(detail, SHOWN_DETAIL), source=source or None))

    def _emit(self, event: Event) -> Event:
        self._log(event)
        for listener in self.listeners:
            listener(event)
        return event

    def _log_evicted(self, key_id: str) -> None:
        ok, suppressed = self.refusal_lines.allow(EVICTED)
        if ok:
            more = (f" [{suppressed} more evictions in the last {int(REFUSAL_WINDOW)} s were "
                    "counted, not printed]" if suppressed else "")
            log.warning("pending device %s evicted: more than gateway.max_pending (%d) devices "
                        "wait for approval%s", key_id, self.cfg.gateway.max_pending, more,
                        extra={"fields": {"kind": "evicted", "key_id": key_id}})

    def _log(self, event: Event) -> None:
        if not log.isEnabledFor(LEVELS[event.kind]):
            return
        message = event.describe()
        if event.kind == "rejected":
            ok, suppressed = self.refusal_lines.allow(event.reason)
            if not ok:
                return
            if suppressed:
                message += (f" [{suppressed} more '{event.reason}' refusals in the last "
                            f"{int(REFUSAL_WINDOW)} s were counted, not printed]")
        log.log(LEVELS[event.kind], "%s", message, extra={"fields": event.fields()})

    # --- MQTT -----------------------------------------------------------------------------

    def start(self, on_fatal: Callable[[Exception], None] | None = None) -> None:
        """Connect and subscribe; returns once the broker has acknowledged the subscription.
        `on_fatal(error)` is called (from paho's thread) if the session is lost for good."""
        from dta.gateway.mqtt_link import MqttLink

        self.start_events()
        self.mqtt = MqttLink(self, on_fatal=on_fatal)
        self.mqtt.start()

    def start_events(self) -> None:
        """Start the device event writer (MQTT `start` does; a serial-only gateway's links)."""
        if self.intake is not None:
            self.intake.start()

    def stop(self) -> None:
        """Stop taking events, log and acknowledge those queued, then leave the broker (events
        it sent and that were not taken are sent again to the next session)."""
        if self.mqtt is not None:
            self.mqtt.hold_events()
        if self.intake is not None:
            self.intake.stop()
        if self.mqtt is not None:
            self.mqtt.stop()
            self.mqtt = None


class EventLog:
    """Collects gateway events; lets a caller wait until a condition over them holds."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._cond = threading.Condition()

    def __call__(self, event: Event) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[list[Event]], bool], timeout: float = 30) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self.events), timeout)
