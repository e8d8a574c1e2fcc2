"""A device's serial console: the "dta: <event> k=v" lines the firmware prints
(dtanode/report.py), read until the device has said hello.

On a board the console is the USB serial port esptool used (115200 baud); on the emulated board
it is a PTY. A board with native USB (ESP32-S3/C3 USB-Serial-JTAG) drops its port while it
resets: a console opened by path is reopened until the deadline.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import serial

from dta.emulator import parse_line
from dta.flash.errors import DeviceError

CONSOLE_BAUD = 115200  # MicroPython's REPL on ESP32 boards
# First boot on an ESP32: radio on, the SP 800-90B start-up tests, a key made in pure Python
# (seconds at 240 MHz), the Wi-Fi join (the firmware gives it 20 s), the broker's answer.
HELLO_TIMEOUT = 180.0
# A console line longer than this is noise (a boot ROM at another baud rate), not a report.
MAX_LINE = 1024
READ_SLICE = 0.2  # seconds one read waits; the deadline is checked between reads


@dataclass(frozen=True)
class Hello:
    """What the device reported on its way to its hello."""
    key_id: str
    boot: int
    created: bool | None   # True: it made its key on this boot
    events: tuple[dict, ...]


class _Lines:
    def __init__(self, port: serial.Serial | str, baud: int):
        self.path = port if isinstance(port, str) else None
        self.port = port if not isinstance(port, str) else None
        if self.port is not None:
            self.port.timeout = READ_SLICE
        self.baud = baud
        self.buf = b""

    def _open(self) -> serial.Serial | None:
        try:
            port = serial.Serial()
            port.port, port.baudrate, port.timeout = self.path, self.baud, READ_SLICE
            # DTR/RTS low on open: on ESP32 boards they drive EN and IO0 (reset, boot mode).
            port.dtr = port.rts = False
            port.open()
            return port
        except (serial.SerialException, OSError):
            return None

    def read(self) -> list[str]:
        if self.port is None:
            self.port = self._open()
            if self.port is None:
                time.sleep(READ_SLICE)  # the board's USB port is re-enumerating
                return []
        try:
            self.buf += self.port.read(max(1, self.port.in_waiting))
        except (serial.SerialException, OSError):
            if self.path is None:
                raise
            self.close()
            return []
        *lines, self.buf = self.buf.split(b"\n")
        if len(self.buf) > MAX_LINE:
            self.buf = b""
        return [line.decode("utf-8", "replace").strip("\r\x04") for line in lines]

    def close(self) -> None:
        if self.path is not None and self.port is not None:
            self.port.close()
            self.port = None


def _outcome(event: dict, seen: list[dict]) -> Hello | None:
    kind = event["event"]
    identity = next((e for e in reversed(seen) if e["event"] == "identity"), {})
    if kind == "hello":
        created = identity.get("created")
        return Hello(event.get("key_id", ""), int(event.get("boot", 0)),
                     None if created is None else created is True, tuple(seen))
    if kind == "refuse":
        raise DeviceError(f"the device refused to start ({event.get('reason')}): "
                          f"{event.get('detail', '')}", identity.get("key_id"))
    if kind == "failure" and identity and event.get("step") in ("wifi", "dns", "connect"):
        # The agent retries for ever; provisioning wants to know now.
        raise DeviceError(f"the device made its key but could not reach its gateway: "
                          f"{event.get('step')}: {event.get('detail', '')}",
                          identity.get("key_id"))
    if kind == "offline":
        raise DeviceError(f"the device made its key but could not reach its gateway: "
                          f"{event.get('reason', '')}", identity.get("key_id"))
    return None


def wait_for_hello(port: serial.Serial | str, *, timeout: float = HELLO_TIMEOUT,
                   baud: int = CONSOLE_BAUD,
                   on_line: Callable[[str], None] | None = None) -> Hello:
    """Read the console (a path, or an open pyserial port) until the device's hello; a refusal,
    an offline report or the deadline is a DeviceError."""
    lines = _Lines(port, baud)
    seen: list[dict] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            for line in lines.read():
                if on_line and line:
                    on_line(line)
                event = parse_line(line)
                if event is None:
                    continue
                seen.append(event)
                result = _outcome(event, seen)
                if result is not None:
                    return result
    finally:
        lines.close()
    last = seen[-1]["event"] if seen else "nothing"
    raise DeviceError(f"no hello on the console within {timeout:.0f} s (last report: {last})",
                      next((e.get("key_id") for e in seen if e["event"] == "identity"), None))
