"""The demo's devices: the real firmware bundle on the MicroPython VM (dta.emulator), each with
its own flash directory under `<demo>/devices/`, run by the host half of the board layer
(EmulatedBoard: watchdog, deep sleep, reset) as sleepy devices: every SLEEP_S seconds a device
wakes, resumes its sessions with the D-TAs (PSK tickets, no public-key operation), sends its
outbox, takes what the D-TAs push (anchored receipts) and sleeps again.

A device's identity (key.bin) and everything it verified live in its flash and stay across runs;
a run flashes the firmware bundle again (code only) and rewrites config.json (the broker's port
may have changed), which is what re-provisioning a board looks like.

`Console` keeps what a device said on its console this run: its own claims, parsed from its
lines (dta.emulator.parse_line). Everything in them is the device's text: ids are checked for
shape before they are used, and nothing is printed without dta.oidc.text.printable.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from dta.demo.chain import Checkpoint, K
from dta.emulator import EmulatedBoard, EmulatedDevice
from dta.firmware.bundle import Bundle

# The heap each emulated device runs in: what the agent's whole run (three births, handshakes,
# shares, anchored receipts) needs on the Unix port, where its bytecode sits in the heap too;
# bench/device.py measures the smallest, tests/device runs in the same.
AGENT_HEAP = "256k"
# The share epoch the devices ask for: the same subject and epoch give the same key every run.
EPOCH = 1
# Seconds a device sleeps between wakes.
SLEEP_S = 3
MQTT, SERIAL = "mqtt", "serial"
HEX16 = re.compile(r"^[0-9a-f]{16}$")
HEX66 = re.compile(r"^0[23][0-9a-f]{64}$")


@dataclass(frozen=True)
class Provisioning:
    """What every demo device is flashed with besides the firmware (config.json)."""

    prefix: str
    broker_port: int
    device_user: str
    device_password: str
    dta_ids: tuple[bytes, ...]
    checkpoint: Checkpoint

    def config(self, serial_path: str | None = None) -> dict:
        cfg = {"topic_prefix": self.prefix, "dta_ids": [d.hex() for d in self.dta_ids],
               "network": "regtest", "confirmations": K,
               "checkpoint_height": self.checkpoint.height,
               "checkpoint_header": self.checkpoint.header.hex(), "epoch": EPOCH,
               "sleep_period_s": SLEEP_S, "reply_timeout_ms": 1500, "backoff_base_ms": 500,
               "backoff_cap_ms": 5000}
        if serial_path is None:
            cfg.update(mqtt_host="127.0.0.1", mqtt_port=self.broker_port,
                       mqtt_user=self.device_user, mqtt_password=self.device_password)
        else:
            cfg.update(transport=SERIAL, serial_path=serial_path)
        return cfg


def _hex16(value) -> str | None:
    return value if isinstance(value, str) and HEX16.match(value) else None


@dataclass
class Console:
    """What the summary takes from a device's console this run: its key id (to find it in the
    registry), its refused receipts' links as they happen, its failed steps and why it would
    not start. Its other claims are narrated only: the log holds the evidence."""

    key_id: str | None = None
    receipts: dict[str, dict] = field(default_factory=dict)   # dta8 hex -> index, valid, link
    failures: Counter = field(default_factory=Counter)        # step -> count
    refused: str | None = None                                # why it would not start

    def take(self, ev: dict) -> None:
        kind, dta8 = ev.get("event"), _hex16(ev.get("dta"))
        if kind == "identity" and _hex16(ev.get("key_id")):
            self.key_id = ev["key_id"]
        elif kind == "receipt" and dta8:
            if not self.receipts.get(dta8, {}).get("valid"):
                self.receipts[dta8] = {"index": ev.get("index"), "valid": ev.get("valid") is True,
                                       "link": ev.get("link")}
        elif kind == "failure":
            self.failures[str(ev.get("step"))[:24]] += 1
        elif kind == "refuse":
            self.refused = f"{ev.get('reason')}: {ev.get('detail')}"


class DemoDevice:
    """One emulated device: `name` (mqtt-1, serial-1, ...), its flash under `root`."""

    def __init__(self, name: str, root: Path, transport: str,
                 on_event: Callable[["DemoDevice", dict], None]):
        self.name, self.transport = name, transport
        self.emulated = EmulatedDevice(root, heapsize=AGENT_HEAP)
        self.console = Console()
        self.on_event = on_event
        self.where = transport
        self.board: EmulatedBoard | None = None

    @property
    def root(self) -> Path:
        return self.emulated.root

    def flash(self, bundle: Bundle) -> bool:
        """The firmware onto its flash, its own files kept. -> True for a device with no
        identity yet (it makes its key at its first boot)."""
        new = not (self.root / "key.bin").exists()
        self.emulated.flash(bundle)
        return new

    def configure(self, prov: Provisioning, serial_path: str | None = None) -> None:
        self.emulated.configure(**prov.config(serial_path))
        self.where = f"serial line {serial_path}" if serial_path else f"MQTT as {prov.device_user}"

    def start(self) -> None:
        self.board = EmulatedBoard(self.emulated, self._event).start()

    def _event(self, ev: dict) -> None:
        # The caller records it (self.console.take) under its own lock.
        self.on_event(self, ev)

    def stop(self) -> None:
        if self.board is not None:
            self.board.stop()
            self.board = None
