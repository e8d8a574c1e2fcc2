"""What a D-TA's issuance service may be told: its credential id in the federation, ticket and
voucher lifetimes, how many log entries a device may cost, the policy hook, its thread pool.

Defaults suit a fleet of sleepy devices; every value is checked once, here, with a ConfigError
naming the field. (The config file has no [issuance] section yet: `dta authority run` builds
these from its options; dta.config is another module's.)
"""

from __future__ import annotations

from dataclasses import dataclass

from dta.errors import ConfigError
from dtacore import resumption, tickets

# A federation is a handful of D-TAs; a 1-byte ID_CRED holds 0..0xef (dtacore.handshake_wire).
MAX_CREDENTIAL_ID = 0xEF
# A voucher expires within the u32 Unix time; a year is the longest a device should go without a
# new share (and so a new voucher).
MAX_VOUCHER_LIFETIME = 366 * 86400


@dataclass(frozen=True)
class IssuanceSettings:
    # This D-TA's index in the devices' provisioned `dta_ids` (the federation's order): its
    # 1-byte credential id in handshakes (docs/channel.md).
    credential_id: int = 0
    # Resumption tickets (dtacore.tickets): seconds and uses before a full handshake again.
    ticket_lifetime: int = tickets.DEFAULT_LIFETIME
    ticket_uses: int = tickets.DEFAULT_MAX_USES
    # What one device may cost the log per rate window: new ShareIssued entries (a new subject
    # and epoch; a retry costs nothing) and ShareRefused entries (past that, refusals are still
    # answered, and counted, but not logged again).
    shares_per_window: int = 8
    refusals_per_window: int = 4
    rate_window_seconds: int = 3600
    # Seconds a voucher (dtacore.voucher) given with a share stays valid.
    voucher_lifetime: int = 30 * 86400
    # The pre-issuance policy hook (dta.issuance.policy), or None: every enrolled device passes.
    policy: object | None = None
    # Threads handling device frames (a device's frames are handled in order, one at a time).
    workers: int = 8
    # Devices whose handshake and session state is kept in memory (least recently heard from
    # dropped first: it runs a new handshake), and frames queued per device before dropping.
    max_devices: int = 10_000
    max_queued_frames: int = 64
    # Seconds between anchoring rounds in `run` (0: no anchoring thread; a separate
    # `dta anchor run` anchors the log).
    anchor_interval: float = 5.0

    def __post_init__(self) -> None:
        _range(self, "credential_id", 0, MAX_CREDENTIAL_ID)
        _range(self, "ticket_lifetime", 1, resumption.MAX_LIFETIME)
        _range(self, "ticket_uses", 1, resumption.MAX_USES)
        _range(self, "shares_per_window", 1, 1_000_000)
        _range(self, "refusals_per_window", 1, 1_000_000)
        _range(self, "rate_window_seconds", 1, 366 * 86400)
        _range(self, "voucher_lifetime", 1, MAX_VOUCHER_LIFETIME)
        _range(self, "workers", 1, 256)
        _range(self, "max_devices", 1, 10_000_000)
        _range(self, "max_queued_frames", 1, 100_000)
        if not 0 <= self.anchor_interval <= 86_400:
            raise ConfigError(f"issuance.anchor_interval: {self.anchor_interval} is outside "
                              "0..86400 seconds")
        if self.policy is not None and not callable(getattr(self.policy, "check", None)):
            raise ConfigError("issuance.policy: expected a dta.issuance.policy hook (an object "
                              "with check(request))")


def _range(s: IssuanceSettings, name: str, lo: int, hi: int) -> None:
    value = getattr(s, name)
    if type(value) is not int or not lo <= value <= hi:
        raise ConfigError(f"issuance.{name}: {value!r} is not an integer in {lo}..{hi}")


__all__ = ["IssuanceSettings", "MAX_CREDENTIAL_ID"]
