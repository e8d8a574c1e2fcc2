"""Enrolling and revoking devices: the only moments the transparency log hears of a device.

A hello from a new key makes a pending registry row and nothing else (docs/log.md says what is
logged when). The operator's `dta devices enroll` (or the demo, standing in for one) writes a
DeviceEnrolled entry, `dta devices revoke` a DeviceRevoked entry, and only then changes the
device's state (write-ahead, inside the registry's transaction). `append(entry) -> index` is the
log's append: dta.log.Log.append in a service, or LogStore.append of the encoded entry from the
CLI (appending never signs; the gateway's checkpoint tick picks the entry up).
"""

from __future__ import annotations

import time
from typing import Callable

from dta.errors import StoreError
from dta.gateway.registry import Device, Registry
from dtacore import entries, wire

REVOKE_REASONS = {"retired": entries.REVOKED_RETIRED,
                  "compromised": entries.REVOKED_COMPROMISED,
                  "other": entries.REVOKED_OTHER}

Append = Callable[[entries.Entry], int]


def _now_ms() -> int:
    return int(time.time() * 1000)


def enroll(registry: Registry, append: Append, key_id: str) -> tuple[Device, bool]:
    """Approve a pending device: its DeviceEnrolled entry, then `enrolled`. -> (device,
    changed); an enrolled device is left as it is."""
    def write(dev: Device) -> int:
        return append(entries.DeviceEnrolled(dev.pubkey, dev.board.encode(), _now_ms()))
    return registry.enroll(key_id, write)


def revoke(registry: Registry, append: Append, key_id: str, reason: str) -> tuple[Device, bool]:
    """Revoke a device in any state: its DeviceRevoked entry, then `revoked`, for good."""
    if reason not in REVOKE_REASONS:
        raise StoreError(f"unknown revocation reason {reason!r} (known: "
                         f"{', '.join(REVOKE_REASONS)})")

    def write(dev: Device) -> int:
        return append(entries.DeviceRevoked(dev.pubkey, REVOKE_REASONS[reason], _now_ms()))
    return registry.revoke(key_id, write)


def provision(registry: Registry, append: Append, pubkey: bytes,
              board: str) -> tuple[Device, bool]:
    """Enrol a provisioned device by its public key before its first hello."""
    if len(pubkey) != wire.PUBKEY_LEN or pubkey[0] not in (2, 3):
        raise StoreError("a device key is a 33-byte compressed secp256k1 key (66 hex digits "
                         "starting 02 or 03)")
    label = board.encode()
    if not 1 <= len(label) <= wire.MAX_LABEL or not wire._label_ok(label):
        raise StoreError(f"board {board[:40]!r} is not a board name (1..{wire.MAX_LABEL} "
                         "printable ASCII characters, no spaces)")
    kid = wire.key_id_hex(pubkey)

    def write(dev: Device) -> int:
        return append(entries.DeviceEnrolled(dev.pubkey, label, _now_ms()))
    return registry.provision(kid, pubkey, board, write)
