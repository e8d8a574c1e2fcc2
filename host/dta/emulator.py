"""Emulated devices: the real firmware bundle on the MicroPython Unix port.

A device is a directory standing in for the ESP32's flash filesystem (the one fake part, because
the flash chip cannot exist here): `flash()` copies a bundle into it as esptool + mpremote would,
the device's own files (config.json, key.bin, state.bin) stay across flashes and restarts.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

from dta.firmware.bundle import Bundle
from dta.services import micropython, process

DEVICE_FILES = ("config.json", "key.bin", "state.bin")
# The typed fields of the device's console lines (firmware/dtanode/app.py): everything else is
# text, a key id of sixteen decimal digits included.
INT_FIELDS = ("boot", "bytes", "free", "used", "code")
BOOL_FIELDS = ("created",)


def _typed(key: str, value: str):
    if key in INT_FIELDS and value.isdigit():
        return int(value)
    if key in BOOL_FIELDS and value in ("True", "False"):
        return value == "True"
    return value


def parse_line(line: str) -> dict | None:
    """'dta: hello key_id=ab boot=2' -> {'event': 'hello', 'key_id': 'ab', 'boot': 2}."""
    if not line.startswith("dta: "):
        return None
    try:
        parts = shlex.split(line[5:])
    except ValueError:
        parts = line[5:].split()
    if not parts:
        return None
    event = {"event": parts[0]}
    for part in parts[1:]:
        key, _, value = part.partition("=")
        event[key] = _typed(key, value)
    return event


@dataclass
class Run:
    returncode: int
    events: list = field(default_factory=list)
    output: str = ""

    def first(self, name: str) -> dict | None:
        return next((e for e in self.events if e["event"] == name), None)


class EmulatedDevice:
    def __init__(self, root: Path, heapsize: str = micropython.DEFAULT_HEAP):
        self.root = Path(root)
        self.heapsize = heapsize
        self.proc: subprocess.Popen | None = None
        self._stopping = False

    def flash(self, bundle: Bundle) -> None:
        """Copy the bundle's files onto the device, keeping the device's own files."""
        self.root.mkdir(parents=True, exist_ok=True)
        for rel in bundle.files:
            dst = self.root / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(bundle.root / rel, dst)

    def configure(self, **settings) -> None:
        path = self.root / "config.json"
        path.write_text(json.dumps(settings, sort_keys=True))
        os.chmod(path, 0o600)

    def _popen(self) -> subprocess.Popen:
        return subprocess.Popen(
            micropython.command("main.py", heapsize=self.heapsize), cwd=self.root,
            env=micropython.environ([self.root / "lib"]), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, preexec_fn=lambda: os.umask(0o077),
            # Its own session: a Ctrl-C on the terminal reaches whoever runs the device, which
            # stops it quietly (SIGTERM), and never raises KeyboardInterrupt on the VM.
            start_new_session=True)

    def run(self, timeout: float = 60) -> Run:
        """Boot once and run to completion (config `once`), returning the events it printed."""
        proc = self._popen()
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        events = [e for e in map(parse_line, out.splitlines()) if e]
        return Run(proc.returncode, events, out)

    def start(self, on_event) -> None:
        """Boot and keep running; each event line is passed to on_event(dict) from a thread."""
        self._stopping = False
        self.proc = self._popen()
        proc = self.proc

        def pump():
            for line in proc.stdout:
                if self._stopping:
                    continue  # whatever a device says while it is being stopped is noise
                event = parse_line(line)
                on_event(event if event else {"event": "output", "line": line.rstrip()})
            on_event({"event": "exit", "code": proc.wait(), "stopped": self._stopping})

        threading.Thread(target=pump, daemon=True).start()

    def stop(self) -> None:
        self._stopping = True
        process.terminate(self.proc)
