"""The gateway service: verifies device hellos and registers the devices.

Frames arrive over MQTT (here, paho) or a serial line (dta.gateway.serial_link); both end in
`handle_frame`. Every frame ends in exactly one event: `registered` (first hello of a key, logged
first), `hello` (a known device, higher boot counter), `rejected` (a reason code and a detail;
nothing changes but the per-reason counter) or `failed` (the gateway itself could not finish, e.g.
the log could not be written; nothing is stored).

Data flows one way: the gateway appends to the log (write-ahead, inside the registry's
transaction) and never signs; the log closes checkpoints on its own tick (dta.log.Log).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable

import paho.mqtt.client as mqtt

from dta.config import Config
from dta.errors import DecodeError, ServiceError, VerifyError
from dta.gateway.registry import Registry
from dtacore import backend, entries, wire

log = logging.getLogger("dta.gateway")

CONNECT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Event:
    kind: str           # registered | hello | rejected | failed (gateway-side error)
    key_id: str | None
    reason: str | None = None
    detail: str | None = None
    board: str | None = None
    firmware: str | None = None
    boot: int | None = None
    log_index: int | None = None   # the DeviceEnrolled entry written for a new device

    def describe(self) -> str:
        """One line for a gateway operator."""
        if self.kind == "registered":
            logged = "" if self.log_index is None else f", logged as entry #{self.log_index}"
            return (f"new device {self.key_id} ({self.board}, firmware {self.firmware}) "
                    f"registered, pending enrolment (boot #{self.boot}{logged})")
        if self.kind == "hello":
            return f"device {self.key_id} back online (boot #{self.boot})"
        if self.kind == "failed":
            return f"could not process a frame ({self.detail}); nothing was stored"
        return (f"rejected a frame from {self.key_id or 'unknown device'}: {self.reason} "
                f"({self.detail})")


class Gateway:
    """`log`, when given, receives a DeviceEnrolled entry for every new device before the device
    is registered (dta.log.service.Log or anything with `append(entry) -> index`)."""

    def __init__(self, cfg: Config, registry: Registry | None = None, log=None):
        self.cfg = cfg
        self.registry = registry or Registry(cfg.registry_db)
        self.log = log
        self.listeners: list[Callable[[Event], None]] = []
        self._client: mqtt.Client | None = None
        self._subscribed = threading.Event()

    # --- frame handling (transport-independent) -------------------------------------------

    def handle_hello(self, topic: str, payload: bytes) -> Event:
        """A hello from MQTT: the topic's last level must name the frame's key id."""
        prefix = self.cfg.mqtt.topic_prefix + "/hello/"
        return self.handle_frame(payload, topic[len(prefix):] if topic.startswith(prefix) else "")

    def handle_frame(self, payload: bytes, claimed_kid: str | None = None) -> Event:
        """Verify and register one hello frame. `claimed_kid` is what the transport says the
        sender is (the MQTT topic); None where the transport names no sender (serial)."""
        shown = claimed_kid or ""
        if len(payload) > min(self.cfg.gateway.max_frame, wire.MAX_FRAME):
            return self._reject(shown, "oversized", f"{len(payload)} bytes")
        try:
            hello = wire.verify_hello(wire.decode_hello(payload), backend.verify)
        except DecodeError as exc:
            return self._reject(shown, "malformed", str(exc))
        except VerifyError as exc:
            return self._reject(shown, "bad-signature", str(exc))
        kid = hello.key_id.hex()
        if claimed_kid is not None and claimed_kid != kid:
            return self._reject(shown, "topic-mismatch", f"topic names {shown!r}, frame {kid}")
        before = self.registry.get(kid)
        logged: list[int] = []
        enrol = None
        if self.log is not None:
            entry = entries.DeviceEnrolled(hello.pubkey, hello.board.encode(),
                                           int(time.time() * 1000))
            enrol = lambda: logged.append(self.log.append(entry))  # noqa: E731
        dev, refusal = self.registry.record_hello(kid, hello.pubkey, hello.board,
                                                  hello.firmware, hello.boot, on_enrol=enrol)
        if refusal:
            return self._reject(kid, *refusal)
        kind = "hello" if before else "registered"
        return self._emit(Event(kind, kid, board=dev.board, firmware=dev.firmware, boot=dev.boot,
                                log_index=logged[0] if logged else None))

    def receive(self, handle: Callable[[], Event], source: str) -> Event:
        """Run one transport callback's handling; an internal error (the log or the registry
        failing) becomes a `failed` event and never stops the transport's reader."""
        try:
            return handle()
        except Exception as exc:
            log.exception("internal error handling a frame from %s", source)
            return self._emit(Event("failed", None, reason="internal",
                                    detail=f"{type(exc).__name__}: {exc}"))

    def count_link_error(self, reason: str, detail: str) -> Event:
        """A transport-level refusal (serial: bad length or CRC): counted like any other."""
        return self._reject("", reason, detail)

    def _reject(self, kid: str, reason: str, detail: str) -> Event:
        self.registry.count_rejection(reason)
        log.warning("rejected frame from %s: %s (%s)", kid or "?", reason, detail)
        return self._emit(Event("rejected", kid or None, reason=reason, detail=detail))

    def _emit(self, event: Event) -> Event:
        for listener in self.listeners:
            listener(event)
        return event

    # --- MQTT -----------------------------------------------------------------------------

    def start(self) -> None:
        """Connect and subscribe; returns once the broker has acknowledged the subscription."""
        m = self.cfg.mqtt
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=m.client_id,
                             clean_session=False)
        client.on_connect = self._on_connect
        client.on_subscribe = lambda *a: self._subscribed.set()
        client.on_message = self._on_message
        self._client = client
        try:
            client.connect(m.host, m.port, keepalive=m.keepalive)
        except OSError as exc:
            raise ServiceError(f"cannot reach MQTT broker {m.host}:{m.port}: {exc}") from None
        client.loop_start()
        if not self._subscribed.wait(CONNECT_TIMEOUT):
            self.stop()
            raise ServiceError(f"MQTT broker {m.host}:{m.port} "
                               "did not acknowledge the subscription")

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("broker refused connection: %s", reason_code)
            return
        client.subscribe(f"{self.cfg.mqtt.topic_prefix}/hello/+", qos=1)

    def _on_message(self, client, userdata, msg) -> None:
        self.receive(lambda: self.handle_hello(msg.topic, bytes(msg.payload)), msg.topic)

    def stop(self) -> None:
        if self._client:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None


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
