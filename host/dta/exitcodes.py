"""The exit codes of every `dta` command, defined once (docs/operations.md lists them).

A script tells outcomes apart by these numbers alone: 0 is success, each failure class has its
own code, and `for_error` maps the host's error classes onto them, so a command never picks a
number by hand for a library error.
"""

from __future__ import annotations

from dta.anchor.capabilities import NodeNotReady
from dta.errors import (
    AuthorityError,
    ChainError,
    ConfigError,
    DataDirBusy,
    DtaError,
    PassphraseError,
    ServiceError,
    SessionLost,
    StoreError,
    Undecided,
)
from dtacore.errors import DecodeError, EncodeError, ProtocolError, VerifyError

OK = 0
# A check ran and failed: an invalid receipt, a broken seal chain, a damaged store.
VERIFY_FAILED = 1
# The command line, or an input file it names, is wrong (click's own code for usage errors).
USAGE = 2
# The configuration file or an environment variable is malformed or out of range.
CONFIG = 3
# No passphrase could be had, its file is open to others, or it does not open the secrets.
PASSPHRASE = 4
# A service (MQTT broker, Bitcoin node) is unreachable, refused us, or is not ready.
UNREACHABLE = 5
# A verification could not decide: neither a node nor a trusted header to check against.
UNDECIDED = 6
# Part of the work failed: the node refused a transaction, `dta doctor` found a problem.
PARTIAL = 7
# The D-TA is not set up for this yet, or its state cannot be used: no authority, no funding,
# a store with a newer schema, a chain that says no.
SETUP = 8
# Another process holds the data directory's lock (a second gateway on the same D-TA).
BUSY = 9
# The gateway lost its broker session to another client with the same client id.
SESSION_LOST = 10
# `dta devices emulate --once`: the emulated device refused to start with its own code N
# (2 config, 3 entropy, 4 identity, 5 network: docs/operations.md), exit DEVICE_BASE + N.
DEVICE_BASE = 20
# Interrupted (Ctrl-C at a prompt): the shell's convention, 128 + SIGINT.
INTERRUPTED = 130
# An error no check anticipated: a bug in dta (BSD sysexits' EX_SOFTWARE).
INTERNAL = 70

MEANING = {
    OK: "success",
    VERIFY_FAILED: "a check ran and failed (invalid receipt, broken history, damaged store)",
    USAGE: "bad command line or input file",
    CONFIG: "bad configuration (file or environment)",
    PASSPHRASE: "no usable passphrase, or it does not open the authority",
    UNREACHABLE: "a service is unreachable, refused us, or is not ready",
    UNDECIDED: "verification could not decide (no node, no trusted header)",
    PARTIAL: "part of the work failed (a refused transaction, a failed doctor check)",
    SETUP: "the D-TA is not set up for this, or its state cannot be used",
    BUSY: "another process holds the data directory's lock",
    SESSION_LOST: "the gateway lost its broker session to another client",
    INTERNAL: "internal error (a bug in dta)",
    INTERRUPTED: "interrupted",
}

# Most specific first: the first class an error is an instance of decides.
_BY_CLASS: tuple[tuple[type[BaseException], int], ...] = (
    (PassphraseError, PASSPHRASE),
    (ConfigError, CONFIG),
    (DataDirBusy, BUSY),
    (SessionLost, SESSION_LOST),
    (ServiceError, UNREACHABLE),
    (NodeNotReady, UNREACHABLE),
    (Undecided, UNDECIDED),
    (VerifyError, VERIFY_FAILED),
    (DecodeError, USAGE),
    (EncodeError, USAGE),
    (StoreError, SETUP),
    (AuthorityError, SETUP),
    (ChainError, SETUP),
    (DtaError, SETUP),
    (ProtocolError, USAGE),
)


def for_device(code: int) -> int:
    """The exit code for an emulated device that exited with `code` (0 stays 0)."""
    return OK if code == 0 else DEVICE_BASE + code if 0 < code < 50 else INTERNAL


def for_error(exc: BaseException) -> int:
    """The exit code for a library error (INTERNAL for anything that is not one)."""
    for cls, code in _BY_CLASS:
        if isinstance(exc, cls):
            return code
    return INTERNAL


def epilog(*codes: int) -> str:
    """The `Exit codes:` paragraph of a command's --help (click keeps \\b blocks as written)."""
    lines = [f"  {c:<3} {MEANING[c]}" for c in sorted({OK, USAGE, *codes})]
    return "\b\nExit codes:\n" + "\n".join(lines)
