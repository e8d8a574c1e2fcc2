"""Start a private mosquitto broker on a free loopback port, stop it by PID."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
from pathlib import Path

from dta.errors import ServiceError

READY_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mosquitto:
    """A mosquitto process with its own config, listening on 127.0.0.1:port only."""

    def __init__(self, workdir: Path, port: int | None = None, persistence: bool = False):
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.persistence = persistence
        self.proc: subprocess.Popen | None = None
        self.host = "127.0.0.1"

    def _config(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "mosquitto.conf"
        lines = [f"listener {self.port} 127.0.0.1", "allow_anonymous true",
                 "log_dest stdout", "log_type error", "log_type warning", "log_type notice",
                 f"persistence {'true' if self.persistence else 'false'}",
                 f"persistence_location {self.workdir}/"]
        conf.write_text("\n".join(lines) + "\n")
        return conf

    def start(self) -> "Mosquitto":
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(exe).exists():
            raise ServiceError("mosquitto is not installed (Debian package mosquitto; make setup)")
        self.proc = subprocess.Popen([exe, "-c", str(self._config())], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        proc = self.proc
        ready = threading.Event()
        lines: list[str] = []

        def pump():
            for line in proc.stdout:
                lines.append(line)
                if "listen socket on port" in line:
                    ready.set()
            ready.set()

        threading.Thread(target=pump, daemon=True).start()
        # Wake on the "listen socket" line or on exit, whichever comes first.
        if not ready.wait(READY_TIMEOUT) or self.proc.poll() is not None:
            self.stop()
            raise ServiceError("mosquitto did not start: " + "".join(lines[-5:]).strip())
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
