"""The fee rules, on the node's own figures: what a new anchor pays and what a BIP 125
replacement pays. Rates are in sat per 1000 vB throughout, fees in satoshis.

The node's figures (`Node.relay_fees`): its minimum relay fee rate (getnetworkinfo `relayfee`),
the lowest rate its mempool takes right now (getmempoolinfo `mempoolminfee`, above the relay fee
when the mempool is full) and the incremental relay fee a replacement pays on top
(getnetworkinfo `incrementalfee`). The constants below are only what is used when a node does
not report a figure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dta.errors import ChainError

# Fallbacks only (a node that reports none of these): Bitcoin Core's defaults up to v29.0 for
# -minrelaytxfee and -incrementalrelayfee, 1 sat/vB. Core 29.1 lowered both to 0.1 sat/vB; a
# node that says so is believed.
DEFAULT_MIN_RELAY = 1000
DEFAULT_INCREMENTAL = 1000


class FeeAboveMax(ChainError):
    """The node's floor is above the configured fee_max: nothing can be anchored until one of
    them moves."""


@dataclass(frozen=True)
class RelayFees:
    min_relay: int
    mempool_min: int
    incremental: int
    defaults: tuple[str, ...] = ()  # the figures that are the fallback constants above

    @property
    def floor(self) -> int:
        """The lowest rate the node admits a transaction at right now."""
        return max(self.min_relay, self.mempool_min)

    def as_dict(self) -> dict:
        return {"min_relay": self.min_relay, "mempool_min": self.mempool_min,
                "incremental": self.incremental, "defaults": list(self.defaults)}


def fee_for(rate: int, vsize: int) -> int:
    return math.ceil(rate * vsize / 1000)


def anchor_rate(estimate: int | None, fees: RelayFees, *, fee_floor: int, fee_max: int) -> int:
    """The node's estimate (fee_floor when it has none), raised to the node's floor and to
    fee_floor, capped by fee_max; FeeAboveMax when the node's floor is above fee_max."""
    if fees.floor > fee_max:
        raise FeeAboveMax(f"the node admits nothing below {fees.floor} sat/kvB now (relay fee "
                          f"{fees.min_relay}, mempool minimum {fees.mempool_min}), above "
                          f"fee_max {fee_max}: raise [chain] fee_max or wait for the mempool "
                          "to drain; roots stay pending")
    wanted = estimate if estimate else fee_floor
    return max(fee_floor, fees.floor, min(fee_max, wanted))


@dataclass(frozen=True)
class Replacement:
    rate: int      # the rate the replacement is signed at
    min_fee: int   # and the least it pays, whatever its rate says


def replacement(old: dict, ancestors: list[dict], rate_now: int, fees: RelayFees, *,
                fee_max: int) -> Replacement:
    """BIP 125 for the last unconfirmed anchor `old` (a stored candidate: fee, vsize,
    fee_rate) with its unconfirmed ancestors: at least 1.5 x its rate plus the incremental
    rate, or today's rate if higher, capped by fee_max; paying for the whole package at that
    rate, and at least the old fee plus the incremental fee for its own size (rule 4; one vB
    of margin for a DER signature one byte longer)."""
    rate = min(fee_max, max(rate_now, old["fee_rate"] * 3 // 2 + fees.incremental))
    package_vsize = sum(c["vsize"] for c in ancestors) + old["vsize"]
    package_fee = fee_for(rate, package_vsize) - sum(c["fee"] for c in ancestors)
    rule4 = old["fee"] + fee_for(fees.incremental, old["vsize"] + 1)
    return Replacement(rate, max(package_fee, rule4))
