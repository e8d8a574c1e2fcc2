"""Stopping child processes the same way everywhere: SIGTERM, a grace period, then SIGKILL."""

from __future__ import annotations

import subprocess


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
