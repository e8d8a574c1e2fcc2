"""Stopping child processes the same way everywhere: SIGTERM, a grace period, then SIGKILL;
and services that outlive the command that started them (`dta devnet`), by their PID."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path


def terminate(proc: subprocess.Popen | None, grace: float = 5.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class ChildService:
    """A local service that is one child process: `start()` it (subclasses), stop it by PID, use
    it as a context manager."""

    proc: subprocess.Popen | None = None
    stop_grace = 5.0

    def start(self):
        raise NotImplementedError

    def stop(self) -> None:
        terminate(self.proc, self.stop_grace)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def pid_alive(pid: int) -> bool:
    """True while `pid` runs (a zombie child of ours is reaped and counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            state = fh.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    if state in (b"Z", b"X"):
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        return False
    return True


def pid_runs(pid: int, marker: str) -> bool:
    """`pid` is alive and its command line contains `marker` (a path only our process has) or
    its working directory is `marker` (bcoin renames its command line to "bcoin"): a PID reused
    by another program since it was recorded is never signalled."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return False
    return pid_alive(pid) and (marker.encode() in cmdline or cwd == marker)


def stop_pid(pid: int, marker: str, grace: float = 10.0) -> bool:
    """Stop a detached service by PID as `terminate` stops a child: SIGTERM, `grace` seconds,
    SIGKILL. Returns False when no such process of ours was running."""
    if not pid_runs(pid, marker):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while pid_alive(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + grace
        time.sleep(0.02)  # poll interval while the process exits
    return True
