"""A device's configuration: device.toml on the host, config.json on the device.

device.toml holds the same flat keys as config.json (broker, topic, D-TA ids, the on-chain
checkpoint, network and k, the Wi-Fi network's name) and is checked with the device's own schema
(firmware/dtanode/config_schema.py, the one definition): a value the device would refuse at boot
is refused here first. The secrets (wifi_password, mqtt_password) are never in device.toml: they
come from a secrets file (TOML, mode 0600, owned by the user) or a prompt, are held in a
`Secrets` value whose repr hides them, and go nowhere but into config.json on the device's
filesystem. Nothing here logs or prints a secret; error messages never quote one.

Example device.toml:

    mqtt_host = "192.168.1.10"
    mqtt_port = 1883
    wifi_ssid = "factory-floor"
    network = "signet"
    confirmations = 6
    dta_ids = ["<64 hex>"]
    checkpoint_height = 210000
    checkpoint_header = "<160 hex: the 80-byte block header at that height>"
"""

from __future__ import annotations

import getpass
import json
import os
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Callable, Mapping

from dta.errors import ConfigError, ProtocolError
from dtacore import network, spv
from dtanode import config as device_config
from dtanode import config_schema as schema

SECRET_KEYS = schema.SECRET_KEYS
TRUST_KEYS = schema.TRUST_KEYS
# device.toml is a few hundred bytes; past 64 KiB it is not a device config.
MAX_TOML_BYTES = 64 * 1024
# Keys that only mean something on the emulated board (a file as entropy source, a PTY).
EMULATOR_KEYS = ("entropy_path", "serial_path")
PROMPTS = {"wifi_password": "Wi-Fi password for {wifi_ssid!r}: ",
           "mqtt_password": "MQTT password for user {mqtt_user!r}: "}


@dataclass(frozen=True)
class DeviceConfig:
    """The non-secret settings of one device (or of every device of a batch)."""
    values: Mapping[str, object]
    source: str = "device config"

    def get(self, key: str, default=None):
        return self.values.get(key, default)


@dataclass(frozen=True)
class Secrets:
    """wifi_password and mqtt_password; repr and str never show them."""
    values: Mapping[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Secrets({', '.join(sorted(self.values))}: not shown)"

    __str__ = __repr__


def _schema_error(where: str, exc: ProtocolError) -> ConfigError:
    return ConfigError(f"{where}: {exc}")


def from_mapping(data: Mapping, where: str = "device config") -> DeviceConfig:
    """Check a device.toml's table; -> its DeviceConfig."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a table of settings")
    for key in data:
        if key in SECRET_KEYS:
            raise ConfigError(f"{where}: {key} is a secret and never goes in this file: put it "
                              "in a secrets file (mode 0600) or let the prompt ask for it")
        if key not in schema.SCHEMA:
            raise ConfigError(f"{where}: unknown key {key!r} "
                              f"(known: {', '.join(k for k in schema.CONFIG_KEYS)})")
        try:
            schema.check_value(key, data[key])
        except ProtocolError as exc:
            raise _schema_error(where, exc) from None
    _check_checkpoint(data, where)
    return DeviceConfig(MappingProxyType(dict(data)), where)


def load_device_toml(path: str | os.PathLike) -> DeviceConfig:
    raw = _read_limited(Path(path), MAX_TOML_BYTES)
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:  # tomllib recurses per nested array or inline table
        raise ConfigError(f"{path}: arrays or tables nested too deep") from None
    except ValueError:  # int() past Python's digit limit: not a TOMLDecodeError
        raise ConfigError(f"{path}: a number is too long (over 4,300 digits); no setting "
                          "takes one that large") from None
    return from_mapping(data, str(path))


def _read_limited(path: Path, limit: int) -> bytes:
    try:
        with open(path, "rb") as fh:
            raw = fh.read(limit + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    if len(raw) > limit:
        raise ConfigError(f"{path}: larger than {limit} bytes")
    return raw


def _check_checkpoint(data: Mapping, where: str) -> None:
    # The checkpoint header must carry the proof of work of the configured network:
    # recompute its hash and compare with its own target and the network's limit.
    header, name = data.get("checkpoint_header"), data.get("network")
    if header is None or name is None:
        return
    try:
        spv.check_pow(bytes.fromhex(header), network.by_name(name).pow_limit)
    except ProtocolError as exc:
        raise ConfigError(f"{where}: checkpoint_header is not a {name} block header: "
                          f"{exc}") from None


def _check_secret_values(values: Mapping, where: str) -> None:
    for key, value in values.items():
        if key not in SECRET_KEYS:
            raise ConfigError(f"{where}: {key!r} is not a secret ({', '.join(SECRET_KEYS)}); "
                              "settings go in device.toml")
        try:
            schema.check_value(key, value)
        except ProtocolError as exc:
            raise _schema_error(where, exc) from None
        if value is None:
            raise ConfigError(f"{where}: {key} is empty")


def load_secrets(path: str | os.PathLike) -> Secrets:
    """Read a secrets file: TOML with only secret keys, a regular file of this user's, 0600."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot open the secrets file: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid():
            raise ConfigError(f"{path}: a secrets file must be a regular file of yours")
        if st.st_mode & 0o077:
            raise ConfigError(f"{path}: the secrets file is readable by others (mode "
                              f"{stat.S_IMODE(st.st_mode):o}): chmod 600 {path}")
        raw = fh.read(MAX_TOML_BYTES + 1)
    if len(raw) > MAX_TOML_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_TOML_BYTES} bytes")
    try:
        values = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # TOMLDecodeError is a ValueError
        # The parser's message can quote the line, and the line holds a secret.
        raise ConfigError(f"{path}: not valid TOML (details not shown: secrets file)") from None
    _check_secret_values(values, str(path))
    return Secrets(MappingProxyType(dict(values)))


def needed_secrets(cfg: DeviceConfig) -> tuple[str, ...]:
    """The secrets `cfg` calls for: a Wi-Fi password with an SSID, an MQTT one with a user."""
    need = []
    if cfg.get("wifi_ssid") is not None:
        need.append("wifi_password")
    if cfg.get("mqtt_user") is not None:
        need.append("mqtt_password")
    return tuple(need)


def prompt_secrets(cfg: DeviceConfig, ask: Callable[[str], str] = getpass.getpass) -> Secrets:
    """Ask (without echo: getpass) for each secret `cfg` needs."""
    values = {}
    for key in needed_secrets(cfg):
        answer = ask(PROMPTS[key].format(**cfg.values))
        if not answer:
            raise ConfigError(f"no {key} given")
        values[key] = answer
    _check_secret_values(values, "the secrets typed at the prompt")
    return Secrets(MappingProxyType(values))


def _check_for_board(merged: dict, board: dict, where: str) -> None:
    if board["emulated"]:
        return
    missing = [k for k in TRUST_KEYS if merged.get(k) is None]
    if missing:
        raise ConfigError(f"{where}: a {board['name']} board needs {', '.join(missing)} "
                          "(the D-TA handshake checks the chain from that checkpoint)")
    if merged.get("transport", "mqtt") == "mqtt" and merged.get("wifi_ssid") is None:
        raise ConfigError(f"{where}: a {board['name']} board reaches its broker over Wi-Fi: "
                          "set wifi_ssid")
    extra = [k for k in EMULATOR_KEYS if k in merged]
    if extra:
        raise ConfigError(f"{where}: {', '.join(extra)} only apply to the emulated board")


def render(cfg: DeviceConfig, secrets: Secrets, board: dict, serial: str | None = None) -> bytes:
    """config.json for one device of `board`: cfg + secrets (+ a factory serial), checked the
    way the device will check it at boot."""
    need, have = set(needed_secrets(cfg)), set(secrets.values)
    if need - have:
        raise ConfigError(f"{cfg.source}: needs {', '.join(sorted(need - have))} (from a "
                          "secrets file or the prompt)")
    if have - need:
        raise ConfigError(f"secrets given for nothing in {cfg.source}: "
                          f"{', '.join(sorted(have - need))} (set wifi_ssid / mqtt_user)")
    merged = dict(cfg.values)
    if serial is not None:
        if "serial" in merged:
            raise ConfigError(f"{cfg.source}: serial is set per device; remove it for a batch")
        merged["serial"] = serial
    _check_for_board(merged, board, cfg.source)
    merged.update(secrets.values)
    raw = (json.dumps(merged, sort_keys=True, separators=(",", ":")) + "\n").encode()
    try:
        device_config.parse_json(raw, device_config.MAX_CONFIG_BYTES,
                                 device_config.MAX_CONFIG_DEPTH, "config.json")
        schema.check_config(json.loads(raw))
    except ProtocolError as exc:
        raise _schema_error(cfg.source, exc) from None
    return raw
