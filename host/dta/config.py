"""Configuration: a TOML file, then environment variables, then command-line options.

The file is found at --config, else $DTA_CONFIG, else <data dir>/dta.toml if it exists. Unknown
sections or keys are errors (a typo must not silently fall back to a default). Every value is
checked at load for its type and its range, the same way whether it came from the file or from
the environment: a quoted number in the file is refused (TOML has integers), an environment
variable is parsed as the field's type, and both then go through the same range check. Values
the devices also receive (broker host and port, topic prefix, keepalive) are checked with the
device's own schema (dtanode.config_schema), so the host never accepts what a device refuses.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from dta.errors import ConfigError
from dtacore import network as networks
from dtacore import wire
from dtanode import config_schema
from dtanode.errors import ConfigError as DeviceConfigError

DEFAULT_DATA_DIR = Path("~/.local/share/dta").expanduser()
# The files in a data directory, named once (docs/operations.md lists them).
CONFIG_FILE = "dta.toml"
REGISTRY_DB = "dta.sqlite3"   # the gateway's device registry
LOG_DB = "log.sqlite3"        # the transparency log
ANCHOR_DB = "anchors.sqlite3"  # the anchorer's seal chain

# A config file is a few dozen lines; anything this large is not one.
MAX_CONFIG_FILE = 64 * 1024
# Strings without a tighter limit of their own (URLs, paths, names): long enough for any real
# value, short enough that a pasted blob is caught.
MAX_TEXT = 1024
# An instance name goes into the MQTT client id (MQTT 3.1.1 servers must accept 23 characters;
# mosquitto takes more): short, and safe in a topic, a file name and a log line.
INSTANCE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,15}$")


def _int(default: int, lo: int, hi: int) -> int:
    return field(default=default, metadata={"range": (lo, hi)})


def _text(default: str, max_len: int = MAX_TEXT, *, device_key: str | None = None,
          pattern: re.Pattern | None = None, choices: tuple[str, ...] = ()) -> str:
    return field(default=default, metadata={"max_len": max_len, "device_key": device_key,
                                            "pattern": pattern, "choices": choices})


def _device(key: str, default):
    # A value the devices receive too: checked by their schema (one definition of its limits).
    return field(default=default, metadata={"device_key": key})


@dataclass(frozen=True)
class MqttConfig:
    host: str = _device("mqtt_host", "127.0.0.1")
    port: int = _device("mqtt_port", 1883)
    topic_prefix: str = _device("topic_prefix", "dta/v1")
    # Empty: derived from the D-TA id and [gateway] instance, so two D-TAs on one broker never
    # share a session and two gateways of one D-TA are told apart (docs/operations.md).
    client_id: str = _text("", 64, pattern=re.compile(r"^[A-Za-z0-9._-]*$"))
    keepalive: int = _device("keepalive", 30)
    # The gateway's broker credentials: the password is read from password_file (mode 0600),
    # never written in this file. Empty username: connect without authentication.
    username: str = _text("", 128)
    password_file: str = _text("")
    # The credentials emulated devices get (`dta devices emulate`, the demo, `dta devnet`).
    device_username: str = _text("", 128)
    device_password_file: str = _text("")


@dataclass(frozen=True)
class GatewayConfig:
    # Device frames larger than this are dropped before parsing; at most wire.MAX_FRAME, the
    # frame format's own limit (a gateway may only be stricter).
    max_frame: int = _int(wire.MAX_FRAME, 1, wire.MAX_FRAME)
    # Tells two gateways of one D-TA apart in the MQTT client id (the data directory's lock
    # keeps them on separate data directories).
    instance: str = _text("main", 16, pattern=INSTANCE_RE)
    # What an unknown key can cost: new devices admitted per minute, over all sources and per
    # source (the broker, each serial line), as token buckets holding one minute's worth.
    new_devices_per_minute: int = _int(60, 1, 100_000)
    new_devices_per_source_per_minute: int = _int(30, 1, 100_000)
    # Devices waiting for `dta devices enroll`; past this the oldest pending one is evicted
    # (and counted), so a flood of fresh keys cannot grow the registry without bound.
    max_pending: int = _int(1000, 1, 1_000_000)


@dataclass(frozen=True)
class ChainConfig:
    # Bitcoin network the D-TA anchors on; always explicit, never a process-wide switch.
    network: str = "regtest"
    # Bitcoin Core JSON-RPC URL, e.g. http://user:pass@127.0.0.1:8332/ . Empty: roots stay pending.
    rpc_url: str = ""
    # Bitcoin Core's .cookie file, used when the URL carries no password.
    rpc_cookie: str = ""
    # Confirmations before an anchor is final; 0 = the network's default (6 on mainnet).
    confirmations: int = _int(0, 0, 1000)
    # Fee rate bounds in sat per 1000 vbytes around the node's estimate.
    fee_floor: int = _int(1000, 1, 10_000_000)
    fee_max: int = _int(100000, 1, 100_000_000)
    fee_target_blocks: int = _int(6, 1, 1008)
    # Replace (BIP 125) an anchor still unconfirmed after this many blocks.
    bump_after: int = _int(3, 1, 1000)
    # Seconds between anchors (each costs a fee): only the newest checkpoint of each window is
    # anchored, the checkpoints before it link to it by consistency proofs. 0 = the network's
    # default: 600 (about one block) on mainnet, testnet and signet, 1 on regtest.
    anchor_window_seconds: int = _int(0, 0, 604_800)

    def k_for(self, network: str) -> int:
        """Confirmations before an anchor on `network` is final (the configured figure, else
        the network's default)."""
        return self.confirmations or networks.by_name(network).default_k

    def anchor_window_for(self, network: str) -> int:
        """Seconds between anchors on `network` (the configured figure, else its default)."""
        return self.anchor_window_seconds or (1 if network == "regtest" else 600)


@dataclass(frozen=True)
class LogConfig:
    # A checkpoint closes every window_seconds (if anything was appended) or as soon as
    # max_entries are pending, whichever comes first.
    window_seconds: int = _int(1, 1, 86_400)
    max_entries: int = _int(10000, 1, 10_000_000)
    # The checkpoint origin line (C2SP: a schema-less URL naming the log) and its key name.
    origin: str = _text("dta.local/log", 255, pattern=re.compile(r"^[!-~]+$"))


@dataclass(frozen=True)
class IssuanceConfig:
    # `dta authority run`: this D-TA's index in the devices' provisioned dta_ids (its 1-byte
    # credential id in handshakes), seconds between anchoring rounds (0: leave anchoring to a
    # separate `dta anchor run`), and the pre-issuance policy command (empty: none), run with a
    # request on stdin and policy_timeout seconds to answer (docs/channel.md, 6).
    credential_id: int = _int(0, 0, 0xEF)
    anchor_interval: int = _int(5, 0, 86_400)
    policy_command: str = _text("")
    policy_timeout: int = _int(2, 1, 60)
    # What one device may cost the log per window (retries cost nothing).
    shares_per_window: int = _int(8, 1, 1_000_000)
    refusals_per_window: int = _int(4, 1, 1_000_000)


@dataclass(frozen=True)
class MetricsConfig:
    # Prometheus endpoints (/metrics) of `dta gateway run` and `dta anchor run`; 0 = off.
    host: str = _text("127.0.0.1", 253)
    gateway_port: int = _int(0, 0, 65535)
    anchor_port: int = _int(0, 0, 65535)


@dataclass(frozen=True)
class Config:
    data_dir: Path = DEFAULT_DATA_DIR
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    gateway: GatewayConfig = field(default_factory=GatewayConfig)
    chain: ChainConfig = field(default_factory=ChainConfig)
    log: LogConfig = field(default_factory=LogConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    issuance: IssuanceConfig = field(default_factory=IssuanceConfig)

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
    "DTA_MQTT_USERNAME": ("mqtt", "username"),
    "DTA_MQTT_PASSWORD_FILE": ("mqtt", "password_file"),
    "DTA_GATEWAY_INSTANCE": ("gateway", "instance"),
    "DTA_BITCOIN_RPC": ("chain", "rpc_url"),
    "DTA_BITCOIN_NETWORK": ("chain", "network"),
}

SECTIONS = {"mqtt": MqttConfig, "gateway": GatewayConfig, "chain": ChainConfig, "log": LogConfig,
            "metrics": MetricsConfig, "issuance": IssuanceConfig}
_INT_TEXT = re.compile(r"^-?[0-9]{1,19}$")
# No setting takes an integer past 64 bits; a larger one is refused before it is ranged or shown.
_INT_LIMIT = 2 ** 63
# The longest file name (one path component) the common file systems take, in bytes (NAME_MAX).
NAME_MAX = 255


def _shown(value) -> str:
    if type(value) is int and not -_INT_LIMIT <= value < _INT_LIMIT:
        return f"a {value.bit_length()}-bit integer"  # (repr refuses past 4300 digits)
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _typed(want, key: str, value, name: str, from_env: bool):
    """The value as the field's type: from the file it must already be that type; from the
    environment (always text) it is parsed as that type."""
    if want in ("int", int):
        if from_env and isinstance(value, str) and _INT_TEXT.match(value.strip()):
            return int(value.strip())
        if type(value) is int:
            if not -_INT_LIMIT <= value < _INT_LIMIT:
                raise ConfigError(f"{name}: expected an integer of at most 64 bits, got "
                                  f"{_shown(value)}")
            return value
        hint = (f": write {key} = {value.strip()} without quotes"
                if isinstance(value, str) and not from_env and _INT_TEXT.match(value.strip())
                else "")
        raise ConfigError(f"{name}: expected an integer, got {_shown(value)}{hint}")
    if not isinstance(value, str):
        raise ConfigError(f"{name}: expected a string, got {_shown(value)}")
    if want in ("Path", Path):
        return _directory(value, name)
    _utf8(value, name)
    return value


def _utf8(value: str, name: str) -> None:
    # Only an environment variable can hold a lone surrogate (bytes the locale cannot decode).
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(f"{name}: not UTF-8 text (bytes the locale cannot decode): write it "
                          "in UTF-8") from None


def _directory(value: str, name: str) -> Path:
    """A directory setting as a Path, `~` expanded: refused (naming `name`) when it is empty,
    too long, holds a control character, names an unknown user or has a component longer than
    a file name may be. The same check for the file's data_dir and $DTA_DATA_DIR."""
    if not value.strip():
        raise ConfigError(f"{name}: expected a directory, got an empty string")
    _utf8(value, name)
    _check_text(value, name, MAX_TEXT)
    try:
        path = Path(value).expanduser()
    except RuntimeError:
        user = value[1:].split("/", 1)[0]
        raise ConfigError(f"{name}: cannot expand {_shown(value)}: "
                          + (f"no user {user!r} on this system" if user else
                             "no home directory ($HOME is unset)")
                          + "; write the full path") from None
    for part in path.parts:
        if len(part.encode("utf-8")) > NAME_MAX:
            raise ConfigError(f"{name}: the path component {_shown(part)} is "
                              f"{len(part.encode('utf-8'))} bytes, longer than a file name may "
                              f"be ({NAME_MAX}); shorten it")
    return path


def _check_text(value: str, name: str, max_len: int) -> None:
    if len(value) > max_len:
        raise ConfigError(f"{name}: longer than {max_len} characters")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ConfigError(f"{name}: contains a control character")


def _in_range(f, value, name: str) -> None:
    meta = f.metadata
    device_key = meta.get("device_key")
    if device_key:
        try:
            config_schema.check_value(device_key, value)
        except DeviceConfigError as exc:
            raise ConfigError(f"{name}: {str(exc).split(' ', 1)[1]}; the devices "
                              "refuse such a value too") from None
    if "range" in meta:
        lo, hi = meta["range"]
        if not lo <= value <= hi:
            raise ConfigError(f"{name}: {value} is outside {lo}..{hi}")
    if isinstance(value, str):
        _check_text(value, name, meta.get("max_len", MAX_TEXT))
        pattern = meta.get("pattern")
        if pattern is not None and value and not pattern.match(value):
            raise ConfigError(f"{name}: {_shown(value)} does not match "
                              f"{pattern.pattern}")


def _coerce(cls, key: str, value, where: str, from_env: bool = False):
    """One value checked for its field: `where` names the file section or the environment
    variable it came from."""
    by_name = {f.name: f for f in fields(cls)}
    if key not in by_name:
        raise ConfigError(f"{where}: unknown key {key!r} (known: {', '.join(sorted(by_name))})")
    f = by_name[key]
    name = where if from_env else f"{where}.{key}"
    out = _typed(f.type, key, value, name, from_env)
    _in_range(f, out, name)
    return out


def _section(cls, data: dict, where: str):
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a table")
    return cls(**{k: _coerce(cls, k, v, where) for k, v in data.items()})


def from_dict(data: dict, where: str = "config") -> Config:
    top = {}
    for key, value in data.items():
        if key in SECTIONS:
            top[key] = _section(SECTIONS[key], value, f"{where}[{key}]")
        else:
            top[key] = _coerce(Config, key, value, where)
    return Config(**top)


def find_file(path: str | os.PathLike | None = None, env: dict | None = None) -> Path | None:
    """The configuration file in use: `path`, else $DTA_CONFIG, else <data dir>/dta.toml when
    it exists (None: defaults only)."""
    env = os.environ if env is None else env
    candidate = path or env.get("DTA_CONFIG")
    if candidate:
        return Path(candidate)
    value = env.get("DTA_DATA_DIR")
    data_dir = _directory(value, "$DTA_DATA_DIR (data_dir)") if value else DEFAULT_DATA_DIR
    default = data_dir / CONFIG_FILE
    try:
        return default if default.exists() else None
    except OSError as exc:
        raise ConfigError(f"cannot look for the config file {default}: {exc.strerror}; set "
                          "--config or $DTA_CONFIG, or fix $DTA_DATA_DIR") from None


def read_file(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_CONFIG_FILE + 1)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    if len(raw) > MAX_CONFIG_FILE:
        raise ConfigError(f"{path}: larger than {MAX_CONFIG_FILE} bytes: not a config file")
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}): save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: arrays or tables nested too deeply: not a config file (no "
                          "setting takes nested values)") from None
    except ValueError:
        # tomllib passes on int()'s refusal of a number past 4300 digits.
        raise ConfigError(f"{path}: a number with more digits than any setting takes") from None


def load(path: str | os.PathLike | None = None, env: dict | None = None) -> Config:
    env = os.environ if env is None else env
    found = find_file(path, env)
    data = read_file(found) if found else {}
    cfg = apply_env(from_dict(data, str(found) if found else "defaults"), env)
    _check(cfg)
    return cfg


def _check(cfg: Config) -> None:
    if networks.by_name(cfg.chain.network) is None:
        raise ConfigError(f"chain.network: unknown network {cfg.chain.network!r} (known: "
                          f"{', '.join(n.name for n in networks.NETWORKS)})")
    if cfg.chain.fee_floor > cfg.chain.fee_max:
        raise ConfigError(f"chain.fee_floor ({cfg.chain.fee_floor}) is above chain.fee_max "
                          f"({cfg.chain.fee_max})")
    if cfg.mqtt.password_file and not cfg.mqtt.username:
        raise ConfigError("mqtt.password_file is set but mqtt.username is not")
    if cfg.mqtt.device_password_file and not cfg.mqtt.device_username:
        raise ConfigError("mqtt.device_password_file is set but mqtt.device_username is not")


def apply_env(cfg: Config, env) -> Config:
    for var, (section, key) in ENV_VARS.items():
        if var not in env or (var == "DTA_DATA_DIR" and not env[var]):
            continue
        where = f"${var} ({key if section is None else section + '.' + key})"
        if section is None:
            cfg = replace(cfg, **{key: _coerce(Config, key, env[var], where, from_env=True)})
        else:
            sub = getattr(cfg, section)
            sub = replace(sub, **{key: _coerce(type(sub), key, env[var], where, from_env=True)})
            cfg = replace(cfg, **{section: sub})
    return cfg


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value), ensure_ascii=False)  # a TOML basic string


def render(data: dict) -> str:
    """TOML text for a config dict (top-level scalars, then one table per section)."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for section, table in data.items():
        if isinstance(table, dict):
            lines += ["", f"[{section}]"] + [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines).lstrip("\n") + "\n"


def update_file(path: Path, updates: dict[str, dict]) -> None:
    """Set `updates` ({section: {key: value}}) in the config file at `path`, keeping every other
    value; the result is checked like any config before it replaces the file (atomically, 0600:
    it may name credential files). Comments in an existing file are not kept."""
    path = Path(path)
    data = read_file(path) if path.exists() else {}
    for section, values in updates.items():
        table = data.setdefault(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: {section} is not a table")
        table.update(values)
    from_dict(data, str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(render(data))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read_secret_file(path: str, what: str) -> str:
    """The first line of a credential file, refused when group or others may read it."""
    p = Path(path).expanduser()
    try:
        mode = p.stat().st_mode
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{what} {p}: {exc.strerror}") from None
    if mode & 0o077:
        raise ConfigError(f"{what} {p} is readable by other users (mode {mode & 0o777:04o}): "
                          f"run `chmod 600 {p}`")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {p} is not UTF-8 text") from None
    line = text.splitlines()[0] if text else ""
    if not line:
        raise ConfigError(f"{what} {p} is empty: its first line is the secret")
    return line
