"""The pre-issuance policy hook: asked before a share is derived for an enrolled device, with a
time limit; its verdict is logged (the `dta.issuance` logger, and a ShareRefused entry with
reason `policy` when it refuses).

Two kinds, both with `check(request) -> Verdict`:

- `CallablePolicy(fn, timeout)`: `fn(request)` returns True (issue), False (refuse), or
  (allow, reason). It runs on a small pool of its own; past the time limit the share is refused.
- `CommandPolicy(argv, timeout)`: the command gets the request as one JSON object on stdin
  (`dta_id`, `subject` and `device_key` in hex, `epoch`, `board`); exit status 0 issues, 1
  refuses, with the first line of stdout as the reason. Any other status, a crash or the time
  limit refuses (the command's process group is killed).

A hook that fails refuses: the policy fails closed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Callable

from dta.errors import ConfigError
from dta.oidc.text import printable

DEFAULT_TIMEOUT = 2.0
# A hook gets at most this long: issuance waits for it with the device's request in hand.
MAX_TIMEOUT = 60.0
# The reason a hook gives is quoted this long at most in logs and events.
MAX_REASON = 200
# Callable hooks that may run at once; one that hangs keeps its slot, and once all are
# held every check times out (refused): a hung hook stops issuance, never lets it through.
CALLABLE_THREADS = 4


@dataclass(frozen=True)
class PolicyRequest:
    dta_id: bytes
    subject: bytes
    epoch: int
    device_key: bytes
    board: str

    def as_json(self) -> str:
        return json.dumps({"dta_id": self.dta_id.hex(), "subject": self.subject.hex(),
                           "epoch": self.epoch, "device_key": self.device_key.hex(),
                           "board": self.board})


@dataclass(frozen=True)
class Verdict:
    allow: bool
    reason: str
    hook: str
    seconds: float


def _timeout(value: float) -> float:
    if not 0 < value <= MAX_TIMEOUT:
        raise ConfigError(f"policy hook time limit {value!r} is outside 0..{MAX_TIMEOUT} s")
    return float(value)


class CallablePolicy:
    def __init__(self, fn: Callable[[PolicyRequest], object], timeout: float = DEFAULT_TIMEOUT,
                 name: str | None = None):
        if not callable(fn):
            raise ConfigError("a callable policy hook must be callable")
        self.fn = fn
        self.timeout = _timeout(timeout)
        self.name = name or getattr(fn, "__name__", "callable")
        self._slots = threading.Semaphore(CALLABLE_THREADS)

    def check(self, request: PolicyRequest) -> Verdict:
        start = time.monotonic()
        if not self._slots.acquire(timeout=self.timeout):
            return self._late(start)
        result: list = []

        def call():  # a daemon thread: a hook that never returns cannot hold up an exit
            try:
                result.append((True, self.fn(request)))
            except Exception as exc:  # the hook's own failure refuses, never stops issuance
                result.append((False, exc))
            finally:
                self._slots.release()

        t = threading.Thread(target=call, daemon=True, name="dta-policy")
        t.start()
        t.join(self.timeout)
        if not result:
            return self._late(start)
        ok, out = result[0]
        if not ok:
            return Verdict(False, printable(f"the policy hook failed: {type(out).__name__}: "
                                            f"{out}", MAX_REASON), self.name,
                           time.monotonic() - start)
        allow, reason = (out if isinstance(out, tuple) else (out, ""))
        if allow is not True and allow is not False:
            allow, reason = False, f"the policy hook answered {type(allow).__name__}, not a bool"
        return Verdict(allow, printable(str(reason), MAX_REASON), self.name,
                       time.monotonic() - start)

    def _late(self, start: float) -> Verdict:
        return Verdict(False, f"the policy hook gave no verdict within {self.timeout:g} s",
                       self.name, time.monotonic() - start)


class CommandPolicy:
    def __init__(self, argv: list[str], timeout: float = DEFAULT_TIMEOUT):
        if not argv or not all(isinstance(a, str) and a for a in argv):
            raise ConfigError("a policy command is a non-empty list of arguments")
        self.argv = list(argv)
        self.timeout = _timeout(timeout)
        self.name = os.path.basename(argv[0])

    def check(self, request: PolicyRequest) -> Verdict:
        start = time.monotonic()
        try:
            proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            return self._verdict(False, f"the policy command did not start: {exc.strerror}",
                                 start)
        try:
            out, _ = proc.communicate(request.as_json().encode(), timeout=self.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return self._verdict(False, f"the policy command gave no verdict within "
                                 f"{self.timeout:g} s", start)
        first = out.decode("utf-8", "replace").splitlines()[:1]
        reason = first[0] if first else ""
        if proc.returncode == 0:
            return self._verdict(True, reason, start)
        if proc.returncode == 1:
            return self._verdict(False, reason or "refused by the policy command", start)
        return self._verdict(False, f"the policy command failed (exit status "
                             f"{proc.returncode})", start)

    def _verdict(self, allow: bool, reason: str, start: float) -> Verdict:
        return Verdict(allow, printable(reason, MAX_REASON), self.name, time.monotonic() - start)
