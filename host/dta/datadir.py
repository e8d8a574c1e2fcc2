"""The data directory's per-role lock: one gateway (one anchorer, one demo) per data directory.

Two gateways on one D-TA would both write its registry and log and, on one broker, take the MQTT
session from each other. `DataDirLock(data_dir, "gateway").acquire()` takes an exclusive
`flock` on `<data dir>/<role>.lock` and writes its PID there; a second process on the same
directory gets DataDirBusy naming the first one's PID. The kernel drops the lock when the
process exits, however it exits, so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from dta.errors import DataDirBusy, StoreError

ROLES = ("gateway", "anchor", "demo", "authority")


def lock_path(data_dir: Path, role: str) -> Path:
    return Path(data_dir) / f"{role}.lock"


class DataDirLock:
    def __init__(self, data_dir: Path, role: str):
        if role not in ROLES:
            raise ValueError(f"unknown lock role {role!r}")
        self.data_dir = Path(data_dir)
        self.role = role
        self.path = lock_path(self.data_dir, role)
        self._fd: int | None = None

    def acquire(self) -> "DataDirLock":
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StoreError(f"cannot create the lock file {self.path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise DataDirBusy(
                f"another `dta {self.role}` (pid {holder}) is already running on "
                f"{self.data_dir}: stop it first, or give this one its own --data-dir") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "DataDirLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def holder(data_dir: Path, role: str) -> int | None:
    """The PID holding `role`'s lock on data_dir, or None when nobody holds it."""
    path = lock_path(data_dir, role)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.read(fd, 32).decode("ascii", "replace").strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
