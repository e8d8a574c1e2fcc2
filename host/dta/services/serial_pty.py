"""A pair of linked pseudo-terminals (socat): a serial cable for emulated devices.

The device end is a path the emulated board writes to like a UART; the gateway end is opened with
pyserial exactly like /dev/ttyUSB0.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from dta.errors import ServiceError
from dta.services import process


class PtyPair(process.ChildService):
    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.device_end = self.workdir / "tty-device"
        self.gateway_end = self.workdir / "tty-gateway"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "PtyPair":
        exe = shutil.which("socat")
        if not exe:
            raise ServiceError("socat is not installed (Debian package socat; make setup)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        # ignoreeof on the device end: a device that closes its port (one-shot boots) must not
        # end the cable; the next boot opens it again.
        self.proc = subprocess.Popen(
            [exe, "-d", "-d", f"pty,link={self.device_end},raw,echo=0,ignoreeof",
             f"pty,link={self.gateway_end},raw,echo=0"],
            stderr=subprocess.PIPE, text=True)
        # socat says "starting data transfer loop" once both PTYs and their links exist.
        lines = []
        for line in self.proc.stderr:
            lines.append(line.strip())
            if "starting data transfer loop" in line:
                return self
        self.stop()
        raise ServiceError("socat did not start: " + " | ".join(lines[-3:]))
