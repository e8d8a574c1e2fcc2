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
# The heap an emulated device gets: the agent's budget (issue 11), an ESP32 without PSRAM has
# about as much free; on the Unix port the agent's bytecode sits in it too (docs/security.md).
AGENT_HEAP = "96k"
# The typed fields of the device's console lines (firmware/dtanode/app.py): everything else is
# text, a key id of sixteen decimal digits included.
INT_FIELDS = ("boot", "bytes", "free", "used", "code",
              # the agent's loop (firmware/dtanode/agent.py, app.py, dtapeer.py, shareflow.py)
              "attempt", "delay_ms", "failures", "failed_boots", "last_failures", "upto",
              "waiting", "dropped", "count", "epoch", "index", "tip", "birth", "ms", "shares",
              "cpu_us", "load_us", "ec_ops", "writes", "sent", "received", "mem", "peak")
BOOL_FIELDS = ("created", "resumed", "valid", "verified")


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
    def __init__(self, root: Path, heapsize: str = AGENT_HEAP):
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


class EmulatedBoard:
    """The host half of the board layer (firmware/dtanode/board.py is the device half): the
    stand-in for the ESP32's watchdog, deep sleep and reset, which the Unix port does not have.

    It boots the device's VM with one pipe for the board requests (DTA_BOARD_FD) and the reset
    cause in DTA_RESET_CAUSE, and then plays the chip: a watchdog that was armed (`W ms`) and not
    fed (`F`) in time kills the VM and boots it again with cause `wdt`; a deep sleep (`S ms`,
    then the VM exits) boots it again after the period with cause `deepsleep`; a reset (`R`)
    boots it again at once with cause `soft`. A VM that exits without a request stands for a
    board whose firmware crashed to the REPL: with an armed watchdog it is reset when the
    watchdog runs out, as a board would be; without one it stays down. `power_cut()` kills the
    VM (SIGKILL) and boots it again with cause `power-on`. The flash (the device directory) is
    the same across all of these. Each boot and its end are passed to on_event as
    {"event": "board", "boot": n, "cause": ...} and {"event": "board-end", "boot": n, "end": ...}
    besides the device's own lines.
    """

    POLL = 0.02

    def __init__(self, device: EmulatedDevice, on_event, max_boots: int | None = None):
        self.device = device
        self.on_event = on_event
        self.max_boots = max_boots
        self.boots = 0
        self.ends: list[str] = []
        self._stop = threading.Event()
        self._cut = threading.Event()
        self._thread: threading.Thread | None = None
        self.proc: subprocess.Popen | None = None

    def start(self) -> EmulatedBoard:
        self._thread = threading.Thread(target=self._supervise, daemon=True)
        self._thread.start()
        return self

    def power_cut(self) -> None:
        """Pull the plug: SIGKILL now, whatever the VM is doing; it boots again (power-on)."""
        self._cut.set()
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.kill()

    def stop(self) -> None:
        self._stop.set()
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.kill()
        if self._thread is not None:
            self._thread.join(30)

    def _boot(self, cause: str):
        read_fd, write_fd = os.pipe()
        env = micropython.environ([self.device.root / "lib"])
        env.update(DTA_BOARD_FD=str(write_fd), DTA_RESET_CAUSE=cause)
        proc = subprocess.Popen(
            micropython.command("main.py", heapsize=self.device.heapsize), cwd=self.device.root,
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            pass_fds=(write_fd,), preexec_fn=lambda: os.umask(0o077), start_new_session=True)
        os.close(write_fd)
        self.proc = proc
        requests: dict = {"timeout": None, "fed": None, "request": None}

        def board_pipe():
            with os.fdopen(read_fd, "rb") as pipe:
                for raw in pipe:
                    self._request(requests, raw.decode("ascii", "replace").split())

        def console():
            for line in proc.stdout:
                event = parse_line(line)
                self.on_event(event if event else {"event": "output", "line": line.rstrip()})

        threads = [threading.Thread(target=f, daemon=True) for f in (board_pipe, console)]
        for t in threads:
            t.start()
        return proc, requests, threads

    @staticmethod
    def _request(requests: dict, words: list) -> None:
        import time
        if words[:1] == ["W"] and len(words) == 2:
            requests["timeout"] = int(words[1]) / 1000
            requests["fed"] = time.monotonic()
        elif words == ["F"]:
            requests["fed"] = time.monotonic()
        elif words[:1] == ["S"] and len(words) == 2:
            requests["request"] = ("sleep", int(words[1]) / 1000)
        elif words == ["R"]:
            requests["request"] = ("reset", 0)

    def _starved(self, requests: dict) -> bool:
        import time
        timeout = requests["timeout"]
        return timeout is not None and time.monotonic() - requests["fed"] > timeout

    def _run_one(self, cause: str) -> str | None:
        """One boot to its end; -> the next boot's cause, or None to stay down."""
        self.boots += 1
        self.on_event({"event": "board", "boot": self.boots, "cause": cause})
        proc, requests, threads = self._boot(cause)
        end = None
        while end is None:
            if proc.poll() is not None:
                end = "exit"
            elif self._starved(requests):
                proc.kill()
                end = "watchdog"
            elif self._stop.wait(self.POLL):
                end = "stopped"
        proc.wait()
        for t in threads:
            t.join(5)
        return self._after(end, proc.returncode, requests)

    def _after(self, end: str, code: int, requests: dict) -> str | None:
        if self._cut.is_set():
            self._cut.clear()
            end = "power-cut"
        elif end == "exit" and requests["request"] is not None:
            end = requests["request"][0]
        elif end == "exit" and requests["timeout"] is not None:
            # A crash to the REPL: nothing feeds the watchdog any more, so it resets the board.
            while not self._starved(requests) and not self._stop.wait(self.POLL):
                pass
            end = "crash-then-watchdog"
        self.ends.append(end)
        self.on_event({"event": "board-end", "boot": self.boots, "end": end, "code": code})
        if end == "sleep" and self._stop.wait(requests["request"][1]):
            return None
        return {"power-cut": "power-on", "watchdog": "wdt", "crash-then-watchdog": "wdt",
                "sleep": "deepsleep", "reset": "soft"}.get(end)

    def _supervise(self) -> None:
        cause: str | None = "power-on"
        while cause is not None and not self._stop.is_set():
            if self.max_boots is not None and self.boots >= self.max_boots:
                break
            cause = self._run_one(cause)
        self.on_event({"event": "board-down", "boots": self.boots})
