"""Configuration: a TOML file, then environment variables, then command-line options.

The file is found at --config, else $DTA_CONFIG, else <data dir>/dta.toml if it exists. Unknown
sections or keys are errors (a typo must not silently fall back to a default).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from dta.errors import ConfigError
from dtacore import network as networks
from dtacore import wire

DEFAULT_DATA_DIR = Path("~/.local/share/dta").expanduser()
# The files in a data directory, named once (docs/operations.md lists them).
CONFIG_FILE = "dta.toml"
REGISTRY_DB = "dta.sqlite3"   # the gateway's device registry
LOG_DB = "log.sqlite3"        # the transparency log
ANCHOR_DB = "anchors.sqlite3"  # the anchorer's seal chain


@dataclass(frozen=True)
class MqttConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    topic_prefix: str = "dta/v1"
    client_id: str = "dta-gateway"
    keepalive: int = 30


@dataclass(frozen=True)
class GatewayConfig:
    # Device frames larger than this are dropped before parsing; at most wire.MAX_FRAME, the
    # frame format's own limit (a gateway may only be stricter).
    max_frame: int = wire.MAX_FRAME


@dataclass(frozen=True)
class ChainConfig:
    # Bitcoin network the D-TA anchors on; always explicit, never a process-wide switch.
    network: str = "regtest"
    # Bitcoin Core JSON-RPC URL, e.g. http://user:pass@127.0.0.1:8332/ . Empty: roots stay pending.
    rpc_url: str = ""
    # Bitcoin Core's .cookie file, used when the URL carries no password.
    rpc_cookie: str = ""
    # Confirmations before an anchor is final; 0 = the network's default (6 on mainnet).
    confirmations: int = 0
    # Fee rate bounds in sat per 1000 vbytes around the node's estimate.
    fee_floor: int = 1000
    fee_max: int = 100000
    fee_target_blocks: int = 6
    # Replace (BIP 125) an anchor still unconfirmed after this many blocks.
    bump_after: int = 3

    def k_for(self, network: str) -> int:
        """Confirmations before an anchor on `network` is final (the configured figure, else
        the network's default)."""
        return self.confirmations or networks.by_name(network).default_k


@dataclass(frozen=True)
class LogConfig:
    # A checkpoint closes every window_seconds (if anything was appended) or as soon as
    # max_entries are pending, whichever comes first.
    window_seconds: int = 1
    max_entries: int = 10000
    # The checkpoint origin line (C2SP: a schema-less URL naming the log) and its key name.
    origin: str = "dta.local/log"


@dataclass(frozen=True)
class Config:
    data_dir: Path = DEFAULT_DATA_DIR
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    gateway: GatewayConfig = field(default_factory=GatewayConfig)
    chain: ChainConfig = field(default_factory=ChainConfig)
    log: LogConfig = field(default_factory=LogConfig)

    @property
    def registry_db(self) -> Path:
        return self.data_dir / REGISTRY_DB

    @property
    def log_db(self) -> Path:
        return self.data_dir / LOG_DB

    @property
    def anchor_db(self) -> Path:
        return self.data_dir / ANCHOR_DB


# Environment variable -> (section, key). Section None means a top-level key.
ENV_VARS = {
    "DTA_DATA_DIR": (None, "data_dir"),
    "DTA_MQTT_HOST": ("mqtt", "host"),
    "DTA_MQTT_PORT": ("mqtt", "port"),
    "DTA_BITCOIN_RPC": ("chain", "rpc_url"),
    "DTA_BITCOIN_NETWORK": ("chain", "network"),
}


def _coerce(cls, key: str, value, where: str):
    types = {f.name: f.type for f in fields(cls)}
    if key not in types:
        raise ConfigError(f"{where}: unknown key {key!r} (known: {', '.join(sorted(types))})")
    want = types[key]
    if want in ("int", int):
        if isinstance(value, bool):
            raise ConfigError(f"{where}.{key}: expected an integer, got {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}.{key}: expected an integer, got {value!r}") from None
    if want in ("Path", Path):
        return Path(str(value)).expanduser()
    if not isinstance(value, str):
        raise ConfigError(f"{where}.{key}: expected a string, got {value!r}")
    return value


def _section(cls, data: dict, where: str):
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a table")
    return cls(**{k: _coerce(cls, k, v, where) for k, v in data.items()})


SECTIONS = {"mqtt": MqttConfig, "gateway": GatewayConfig, "chain": ChainConfig, "log": LogConfig}


def from_dict(data: dict, where: str = "config") -> Config:
    top = {}
    for key, value in data.items():
        if key in SECTIONS:
            top[key] = _section(SECTIONS[key], value, f"{where}[{key}]")
        else:
            top[key] = _coerce(Config, key, value, where)
    return Config(**top)


def load(path: str | os.PathLike | None = None, env: dict | None = None) -> Config:
    env = os.environ if env is None else env
    data: dict = {}
    where = "defaults"
    candidate = path or env.get("DTA_CONFIG")
    if not candidate:
        data_dir = Path(env.get("DTA_DATA_DIR", DEFAULT_DATA_DIR)).expanduser()
        default = data_dir / CONFIG_FILE
        candidate = default if default.exists() else None
    if candidate:
        where = str(candidate)
        try:
            with open(candidate, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {candidate}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{candidate}: not valid TOML: {exc}") from None
    cfg = apply_env(from_dict(data, where), env)
    _check(cfg)
    return cfg


def _check(cfg: Config) -> None:
    if networks.by_name(cfg.chain.network) is None:
        raise ConfigError(f"chain.network: unknown network {cfg.chain.network!r} (known: "
                          f"{', '.join(n.name for n in networks.NETWORKS)})")
    if not 1 <= cfg.gateway.max_frame <= wire.MAX_FRAME:
        raise ConfigError(f"gateway.max_frame: {cfg.gateway.max_frame} is outside "
                          f"1..{wire.MAX_FRAME} (the frame format's limit)")


def apply_env(cfg: Config, env) -> Config:
    for var, (section, key) in ENV_VARS.items():
        if var not in env:
            continue
        if section is None:
            cfg = replace(cfg, **{key: _coerce(Config, key, env[var], var)})
        else:
            sub = getattr(cfg, section)
            sub = replace(sub, **{key: _coerce(type(sub), key, env[var], var)})
            cfg = replace(cfg, **{section: sub})
    return cfg
