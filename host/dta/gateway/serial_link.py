"""Devices on a serial line (USB-serial, UART bridge, a PTY for emulated devices).

Records (dtacore.serial_frame) are read with pyserial and de-framed; a record failing its
length or CRC check, or left incomplete when the line goes quiet, is counted as a refusal
(`bad-length`, `bad-crc`, `cut-record`) and the reader resynchronises on the next SYNC. A
device on a serial line sends the frames it would publish over MQTT, without topics; the
gateway bridges them by the ids inside the frames (docs/channel.md, "Serial lines"):

- HELLO (and anything that is not one of the frames below): `Gateway.handle_frame`, as from
  MQTT; a hello that verifies is also published on `<prefix>/hello/<kid>`, for the D-TAs that
  learn device keys from hellos;
- EVENT: the gateway's device events (dta.gateway.events); its EVENT_ACK is written back on
  this line once the log holds the event;
- TO_DTA (dta8, kid): published on `<prefix>/dta/<dta8>/<kid>`; TO_DEVICE from the line (a
  device-to-device frame, dta8 = the sender's kid): on `<prefix>/d2d/<to kid>/<from kid>`.
  The sending key id must be a registered device that is not revoked (`bridge-unknown-device`
  otherwise), and a line bridges at most MAX_LINE_DEVICES of them;
- for each device bridged on this line the gateway subscribes to `<prefix>/dev/<kid>/+` and
  `<prefix>/d2d/<kid>/+` and writes what arrives there on the line, once the frame's ids are
  its topic's (`bridge-topic-mismatch` otherwise).

Writes go through a bounded queue and one writer thread (a line that does not drain costs
MAX_OUT records, then `serial-backlog` refusals), so neither paho's thread nor the event writer
ever waits for a slow line.
"""

from __future__ import annotations

import logging
import queue
import threading

import serial

from dta.errors import DecodeError, ServiceError
from dta.gateway.registry import REVOKED
from dta.gateway.service import Gateway
from dtacore import channel, serial_frame, wire
from dtacore.errors import EncodeError
from dtacore.serial_frame import Deframer

log = logging.getLogger("dta.gateway.serial")

READ_TIMEOUT = 0.2  # seconds a read may block: how quickly stop() is noticed
WRITE_TIMEOUT = 2.0  # seconds a write may block before the line counts as stuck
# Records waiting to be written to the line: a trust bundle's parts or a receipt's arrive in
# bursts of a few dozen frames; beyond this many the line is not being read.
MAX_OUT = 256
# Devices one line bridges: a line is one device in practice, a few behind a multiplexer.
MAX_LINE_DEVICES = 32


class SerialLink:
    def __init__(self, gateway: Gateway, port: str, baudrate: int = 115200):
        self.gateway = gateway
        self.port = port
        self.baudrate = baudrate
        self.source = f"serial {port}"  # the rate limit's source, and what log lines name
        self.prefix = gateway.cfg.mqtt.topic_prefix
        self.devices: set[bytes] = set()  # key ids bridged on this line
        self._out: queue.Queue[bytes] = queue.Queue(MAX_OUT)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._serial = None

    def start(self) -> "SerialLink":
        try:
            self._serial = serial.serial_for_url(self.port, baudrate=self.baudrate,
                                                 timeout=READ_TIMEOUT,
                                                 write_timeout=WRITE_TIMEOUT)
        except (serial.SerialException, OSError) as exc:
            raise ServiceError(f"cannot open serial port {self.port}: {exc}") from None
        self.gateway.start_events()
        for target, name in ((self._run, "serial"), (self._write_loop, "serial writer")):
            t = threading.Thread(target=target, name=f"{name} {self.port}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    # -- reading -------------------------------------------------------------------------------

    def _run(self) -> None:
        deframer = Deframer()
        while not self._stop.is_set():
            try:
                data = self._serial.read(512)
            except (serial.SerialException, OSError) as exc:
                log.error("serial port %s failed: %s", self.port, exc)
                return
            # A quiet read (READ_TIMEOUT) ends any record still incomplete: it was cut.
            for kind, value in deframer.feed(data) if data else deframer.idle():
                if kind == "frame":
                    self.gateway.receive(lambda v=value: self._frame(v), self.source)
                else:
                    self.gateway.count_link_error(value, "a serial record", self.source)

    def _frame(self, frame: bytes):
        ftype = frame[3] if len(frame) >= wire.HEADER_LEN and frame[:2] == wire.MAGIC else None
        if ftype == channel.TYPE_EVENT:
            self.gateway.submit_event(frame, None, source=self.source, reply=self._ack)
            return None
        if ftype in (channel.TYPE_TO_DTA, channel.TYPE_TO_DEVICE):
            return self._to_broker(frame)
        event = self.gateway.handle_frame(frame, source=self.source)
        if event.kind in ("registered", "hello") and self.gateway.mqtt is not None:
            kid = bytes.fromhex(event.key_id)
            self._admit(kid)
            self.gateway.mqtt.publish_hello(kid, frame)
        return event

    def _to_broker(self, frame: bytes):
        try:
            ftype, first, second, _ = channel.decode(frame)
        except DecodeError as exc:
            return self.gateway.refuse(None, "bridge-malformed", str(exc), self.source)
        if ftype == channel.TYPE_TO_DTA:  # first = the D-TA, second = the sender
            sender, topic = second, channel.topic_to_dta(self.prefix, first, second)
        else:  # device to device: first = the sender, second = the receiver
            sender, topic = first, channel.d2d_topic(self.prefix, second, first)
        link = self.gateway.mqtt
        if link is None:
            return self.gateway.refuse(sender.hex(), "bridge-no-mqtt",
                                       "this gateway runs without MQTT (--no-mqtt)", self.source)
        why = self._admit(sender)
        if why is not None:
            return self.gateway.refuse(sender.hex(), *why, self.source)
        link.publish(topic, frame)
        return None

    def _admit(self, kid: bytes) -> tuple[str, str] | None:
        # -> None once `kid` is bridged on this line, else the refusal.
        if kid in self.devices:
            return None
        dev = self.gateway.registry.get(kid.hex())
        if dev is None or dev.state == REVOKED:
            return ("bridge-unknown-device", "no registered device with this key id" if dev is
                    None else "this device's key was revoked")
        if len(self.devices) >= MAX_LINE_DEVICES:
            return ("bridge-too-many-devices", f"this line bridges {MAX_LINE_DEVICES} devices "
                    "already")
        link = self.gateway.mqtt
        if link is None or not link.bridge(kid.hex(), self._from_broker):
            return ("bridge-too-many-devices", "the gateway bridges as many devices as it may")
        self.devices.add(kid)
        return None

    # -- writing -------------------------------------------------------------------------------

    def _from_broker(self, topic: str, frame: bytes) -> None:
        # paho's thread: a frame published to one of this line's devices.
        _, kind, to, other = topic.rsplit("/", 3)
        try:
            ftype, first, second, _ = channel.decode(frame)
        except DecodeError as exc:
            self.gateway.refuse(to, "bridge-malformed", str(exc), self.source)
            return
        if ftype != channel.TYPE_TO_DEVICE or second.hex() != to or first.hex() != other:
            self.gateway.refuse(to, "bridge-topic-mismatch",
                                f"a frame on {kind}/{to}/{other[:20]} for device "
                                f"{second.hex()} from {first.hex()}", self.source)
            return
        self.write(frame)

    def _ack(self, kid: bytes, frame: bytes) -> None:
        self.write(frame)

    def write(self, frame: bytes) -> None:
        """Queue one frame for the line (never waits)."""
        try:
            self._out.put_nowait(serial_frame.encode(frame))
        except EncodeError as exc:
            self.gateway.refuse(None, "bridge-malformed", str(exc), self.source)
        except queue.Full:
            self.gateway.refuse(None, "serial-backlog", f"{MAX_OUT} records wait for the line",
                                self.source)

    def _write_loop(self) -> None:
        while not self._stop.is_set():
            try:
                record = self._out.get(timeout=READ_TIMEOUT)
            except queue.Empty:
                continue
            try:
                self._serial.write(record)
            except serial.SerialTimeoutException:
                self.gateway.refuse(None, "serial-backlog", "the line did not take a record "
                                    f"within {WRITE_TIMEOUT} s", self.source)
            except (serial.SerialException, OSError) as exc:
                log.error("serial port %s failed: %s", self.port, exc)
                return

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(5)
        if self._serial:
            self._serial.close()
