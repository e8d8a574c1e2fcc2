"""Configuration from outside: the host's dta.toml with its environment variables, a device's
device.toml (checked with the device's schema), and the host's board definitions. Only
dta.errors.ConfigError comes out, and what is accepted has the types the code uses.

The host config's inputs issue 14 found escaping as untyped errors (non-UTF-8 TOML, arrays nested
1,000 deep, numbers past 64 bits or 4300 digits, `~nouser` paths, over-long path components, a
lone surrogate in an environment variable) are in ODD_TOML and ENV_VALUES below.
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from dta import config
from dta.errors import ConfigError
from dta.firmware import boards
from dta.flash import devconfig
from tests.fuzz import support, world

# TOML values a strict reader must refuse or read exactly: non-finite and huge numbers, deep
# arrays, dates, tables where scalars belong, paths that cannot be expanded or opened.
ODD_TOML = ["inf", "-inf", "nan", "1e400", "-1", "0", "65536", "9223372036854775807",
            "99999999999999999999999", "true", '""', '"~nouser/x"', '"~nouser"',
            '"' + "a" * 300 + '"', '"/tmp/' + "b" * 300 + '/x"', "1979-05-27T07:32:00Z",
            "[" * 1000 + "]" * 1000, "{a = 1}", "[1, 2]", '"\\u0000"', "0x10", "'lit'",
            '"\\udc80"', '"x\\ny"',
            # past int()'s 4,300 digits (tomllib raises a bare ValueError), and far past 64 bits
            "1" + "0" * 5000, "0x" + "f" * 5000]

HOST_KEYS = {"data_dir": '"/srv/dta"', "mqtt.host": '"10.0.0.1"', "mqtt.port": "8883",
             "mqtt.topic_prefix": '"dta/v1"', "mqtt.client_id": '"gw-1"', "mqtt.keepalive": "30",
             "gateway.max_frame": "512", "chain.network": '"regtest"',
             "chain.rpc_url": '"http://u:p@127.0.0.1:18443/"', "chain.rpc_cookie": '""',
             "chain.confirmations": "1", "chain.fee_floor": "1000", "chain.fee_max": "100000",
             "chain.fee_target_blocks": "6", "chain.bump_after": "3",
             "log.window_seconds": "1", "log.max_entries": "10000",
             "log.origin": '"dta.local/log"'}
ENV_VALUES = {"DTA_DATA_DIR": ["/tmp/dta-fuzz", "~nouser", "~nouser/x", "", "~",
                               "/tmp/" + "c" * 300],
              "DTA_MQTT_PORT": ["1883", "inf", "-1", "99999", "abc", "1e3", "0x50", ""],
              "DTA_MQTT_HOST": ["127.0.0.1", "", "\udc80"],
              "DTA_BITCOIN_NETWORK": ["regtest", "bitcoin", ""],
              "DTA_BITCOIN_RPC": ["http://127.0.0.1:1/", "not a url", ""]}


def render_toml(values: dict[str, str]) -> str:
    top = [f"{k} = {v}" for k, v in values.items() if "." not in k]
    sections: dict[str, list[str]] = {}
    for key, value in values.items():
        if "." in key:
            section, name = key.split(".", 1)
            sections.setdefault(section, []).append(f"{name} = {value}")
    return "\n".join(top + [f"[{s}]\n" + "\n".join(lines) for s, lines in sections.items()])


@st.composite
def host_configs(draw) -> tuple[bytes, dict[str, str]]:
    values = dict(HOST_KEYS)
    for key in draw(st.lists(st.sampled_from(sorted(HOST_KEYS)), max_size=3)):
        values[key] = draw(st.sampled_from(ODD_TOML))
    for key in draw(st.lists(st.sampled_from(sorted(HOST_KEYS)), max_size=2)):
        values.pop(key, None)
    text = render_toml(values).encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 4)) == 0:
        text = draw(support.mutated([text], 30))
    env = {k: draw(st.sampled_from(v)) for k, v in ENV_VALUES.items() if draw(st.booleans())}
    return text, env


def _typed(obj) -> None:
    # Every field of an accepted (nested) config has the type it is declared with.
    for f in fields(obj):
        value = getattr(obj, f.name)
        want = f.type if isinstance(f.type, str) else f.type.__name__
        if want in ("int", "str"):
            assert type(value).__name__ == want, (f.name, value)
        elif want == "Path":
            assert isinstance(value, Path)
            str(value).encode()
        else:
            _typed(value)


@support.fuzz_settings(0.5)
@given(case=host_configs())
def test_host_config(tmp_path_factory, case):
    text, env = case
    path = tmp_path_factory.getbasetemp() / "dta.toml"
    path.write_bytes(text)
    try:
        cfg = config.load(path, env=env)
    except ConfigError:
        support.tally("host config", False)
        return
    support.tally("host config", True)
    _typed(cfg)


DEVICE_TOML = render_toml({
    "mqtt_host": '"192.168.1.10"', "mqtt_port": "1883", "wifi_ssid": '"factory-floor"',
    "network": '"regtest"', "confirmations": "1", "dta_ids": f'["{world.dta_id().hex()}"]',
    "checkpoint_height": str(world.CHECKPOINT_HEIGHT),
    "checkpoint_header": f'"{world.chain().checkpoint.hex()}"'}).encode()
DEVICE_KEYS = ["mqtt_host", "mqtt_port", "wifi_ssid", "network", "confirmations", "dta_ids",
               "checkpoint_height", "checkpoint_header", "storage", "once", "transport"]


@st.composite
def device_tomls(draw) -> bytes:
    text = DEVICE_TOML.decode()
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from(DEVICE_KEYS))
        text += f"\n{key} = {draw(st.sampled_from(ODD_TOML))}"
    data = text.encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        data = draw(support.mutated([data], 30))
    return data


@support.fuzz_settings()
@given(data=device_tomls())
def test_device_toml(tmp_path_factory, data):
    path = tmp_path_factory.getbasetemp() / "device.toml"
    path.write_bytes(data)
    try:
        cfg = devconfig.load_device_toml(path)
    except ConfigError:
        support.tally("device.toml", False)
        return
    support.tally("device.toml", True)
    json.dumps(dict(cfg.values)).encode()  # what render() writes as config.json


BOARD_FILES = [p.read_bytes() for p in sorted(boards.BOARDS_DIR.glob("*.json"))]


@support.fuzz_settings()
@given(data=support.json_inputs(BOARD_FILES))
def test_host_board_file(data):
    try:
        board = boards.parse(data, where="board.json")
    except ConfigError:
        support.tally("host board", False)
        return
    support.tally("host board", True)
    assert boards.parse(json.dumps(board).encode(), where="again") == board
