"""How log entries and receipts look to people (text) and to scripts (typed JSON): bytes as
hex, names as escaped text, times as UTC. Output only; the formats themselves live in dtacore."""

from __future__ import annotations

import datetime

from dta.oidc.text import printable
from dtacore import entries, wire

# Said after a receipt that does not parse: what a receipt is.
NOT_A_RECEIPT = "(a receipt is the JSON `dta log prove` or `dta receipt upgrade` writes)"
# Entry fields that are names, not bytes: shown as (escaped) text.
TEXT_FIELDS = ("board", "subject")
REVOKE_REASONS = {entries.REVOKED_RETIRED: "retired",
                  entries.REVOKED_COMPROMISED: "compromised",
                  entries.REVOKED_OTHER: "other"}
SHARE_REFUSALS = {entries.REFUSED_UNAUTHENTICATED: "unauthenticated",
                  entries.REFUSED_NOT_ENROLLED: "not enrolled",
                  entries.REFUSED_RATE_LIMITED: "rate limited",
                  entries.REFUSED_POLICY: "policy"}


def utc_ms(time_ms: int) -> str:
    return datetime.datetime.fromtimestamp(time_ms / 1000, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def entry_json(entry: entries.Entry) -> dict:
    """Every field of a decoded entry, typed: ints as ints, names as text, bytes as hex."""
    out = {"type": type(entry).__name__}
    for key, value in sorted(vars(entry).items()):
        if key in TEXT_FIELDS and isinstance(value, (bytes, bytearray)):
            out[key] = bytes(value).decode("ascii", "backslashreplace")
        elif isinstance(value, (bytes, bytearray)):
            out[key] = bytes(value).hex()
        else:
            out[key] = value
    if "time_ms" in out:
        out["time"] = utc_ms(out["time_ms"])
    if "device_key" in out:
        out["key_id"] = wire.key_id_hex(entry.device_key)
    return out


def _text(value: bytes) -> str:
    return printable(bytes(value).decode("ascii", "backslashreplace"), 64)


def entry_summary(entry: entries.Entry) -> str:
    """What an entry says, in one phrase."""
    e = entry
    if isinstance(e, entries.DeviceEnrolled):
        return f"device {wire.key_id_hex(e.device_key)} enrolled (board {_text(e.board)})"
    if isinstance(e, entries.DeviceRevoked):
        return (f"device {wire.key_id_hex(e.device_key)} revoked "
                f"({REVOKE_REASONS.get(e.reason, e.reason)})")
    if isinstance(e, entries.DeviceEvent):
        return (f"device {wire.key_id_hex(e.device_key)} event kind {e.kind} #{e.counter} "
                f"({len(e.payload)} bytes)")
    if isinstance(e, entries.ShareIssued):
        return f"share issued to {_text(e.subject)} (epoch {e.epoch})"
    if isinstance(e, entries.ShareRefused):
        return (f"share refused to {_text(e.subject)} (epoch {e.epoch}, "
                f"{SHARE_REFUSALS.get(e.reason, e.reason)})")
    if isinstance(e, entries.KeyRotation):
        return f"key rotation kind {e.key_kind} (epoch {e.epoch})"
    if isinstance(e, entries.CheckpointAnchored):
        return (f"checkpoint {e.seq} (size {e.tree_size}) anchored in tx {e.txid.hex()} at "
                f"height {e.height}")
    return type(e).__name__


def entry_line(index: int, entry: entries.Entry) -> str:
    stamp = utc_ms(entry.time_ms) if hasattr(entry, "time_ms") else "-"
    return f"#{index:<6} {stamp}  {type(entry).__name__:<18} {entry_summary(entry)}"
