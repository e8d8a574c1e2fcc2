"""Start a private mosquitto broker on a free loopback port, stop it by PID."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from dta.errors import ServiceError
from dta.services import process

READY_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mosquitto(process.ChildService):
    """A mosquitto process with its own config, listening on 127.0.0.1:port only."""

    def __init__(self, workdir: Path, port: int | None = None, persistence: bool = False):
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.persistence = persistence
        self.proc: subprocess.Popen | None = None
        self.host = "127.0.0.1"

    def _config_path(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        return self.workdir / "mosquitto.conf"

    def _config(self) -> str:
        lines = [f"listener {self.port} 127.0.0.1", "allow_anonymous true",
                 "log_dest stdout", "log_type error", "log_type warning", "log_type notice",
                 "log_type information",
                 f"persistence {'true' if self.persistence else 'false'}",
                 f"persistence_location {self.workdir}/"]
        if os.geteuid() == 0:
            # Started as root, mosquitto drops to the `mosquitto` user, which cannot write the
            # persistence file into our private work directory: stay the user that started it.
            lines.append("user root")
        return "\n".join(lines) + "\n"

    def start(self) -> "Mosquitto":
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(exe).exists():
            raise ServiceError("mosquitto is not installed (Debian package mosquitto; make setup)")
        self.log_path = self.workdir / "mosquitto.log"
        with open(self._config_path(), "w") as conf:
            conf.write(self._config())
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([exe, "-c", str(self.workdir / "mosquitto.conf")],
                                         stdout=log, stderr=subprocess.STDOUT)
        # Ready when the port accepts a connection; give up if the process exits first.
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                socket.create_connection((self.host, self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        tail = self.log_path.read_text(errors="replace").strip().splitlines()[-3:]
        raise ServiceError("mosquitto did not start: " + " | ".join(tail))
