"""The Bitcoin networks a D-TA can anchor on. Always passed explicitly: there is no global
"selected network" (python-bitcoinlib's SelectParams is never called)."""

from __future__ import annotations

from dataclasses import dataclass

from dta.errors import ConfigError


@dataclass(frozen=True)
class Network:
    name: str
    code: int          # the byte stored in the Birth Record
    bech32_hrp: str    # Bitcoin Core's segwit address prefix
    default_k: int     # confirmations before an anchor counts as final


NETWORKS = {
    "mainnet": Network("mainnet", 0, "bc", 6),
    "testnet": Network("testnet", 1, "tb", 6),
    "signet": Network("signet", 2, "tb", 6),
    "regtest": Network("regtest", 3, "bcrt", 1),
}
BY_CODE = {n.code: n for n in NETWORKS.values()}


def get(name: str) -> Network:
    try:
        return NETWORKS[name]
    except KeyError:
        raise ConfigError(f"unknown network {name!r} (known: {', '.join(NETWORKS)})") from None
