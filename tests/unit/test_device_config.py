"""The device config: one schema (firmware/dtanode/config_schema.py) for device.toml on the
host and config.json on the device; secrets only from a 0600 file or the prompt, never shown."""

import json

import pytest

from dta.errors import ConfigError
from dta.firmware import boards
from dta.flash import devconfig
from dtacore import network, spv
from dtacore.errors import ProtocolError
from dtanode import config as device
from dtanode import config_schema
from tests.fixtures.flash import (
    MAINNET_GENESIS,
    REGTEST_GENESIS,
    WIFI_PASSWORD,
    hardware_settings,
    toml_text,
    write_secrets,
)

DEVKITC = boards.load("esp32-devkitc")
UNIX = boards.load("unix")


def render(settings, secrets=None, board=DEVKITC, **kw):
    cfg = devconfig.from_mapping(settings, "device.toml")
    return devconfig.render(cfg, devconfig.Secrets(secrets or {}), board, **kw)


def test_the_genesis_headers_carry_their_proof_of_work():
    assert spv.check_pow(bytes.fromhex(MAINNET_GENESIS), network.MAINNET.pow_limit)[::-1].hex() \
        == "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
    spv.check_pow(bytes.fromhex(REGTEST_GENESIS), network.REGTEST.pow_limit)


def test_device_toml_becomes_the_config_json_the_device_loads(tmp_path):
    (tmp_path / "device.toml").write_text(toml_text(hardware_settings()))
    cfg = devconfig.load_device_toml(tmp_path / "device.toml")
    raw = devconfig.render(cfg, devconfig.Secrets({"wifi_password": WIFI_PASSWORD}), DEVKITC)
    (tmp_path / "config.json").write_bytes(raw)
    loaded = device.load_config(str(tmp_path / "config.json"))
    assert loaded["wifi_password"] == WIFI_PASSWORD
    assert loaded["dta_ids"] == hardware_settings()["dta_ids"]
    assert loaded["checkpoint_header"] == MAINNET_GENESIS and loaded["network"] == "mainnet"
    assert loaded["keepalive"] == 30  # default filled in on the device
    assert json.loads(raw) == dict(hardware_settings(), wifi_password=WIFI_PASSWORD)


@pytest.mark.parametrize("key, value, match", [
    ("mqtt_port", True, "mqtt_port must be an integer"),
    ("mqtt_port", "1883", "mqtt_port must be an integer"),
    ("mqtt_port", 0, "mqtt_port must be an integer in 1..65535"),
    ("mqtt_port", 65536, "mqtt_port"),
    ("mqtt_port", 1883.0, "mqtt_port"),
    ("keepalive", -1, "keepalive"),
    ("mqtt_host", "broker.example com", "printable ASCII without spaces"),
    ("mqtt_host", "", "1..253"),
    ("topic_prefix", "dta/#", "wildcards"),
    ("topic_prefix", "$SYS/dta", "leading"),
    ("topic_prefix", "dta/", "trailing"),
    ("transport", "lora", "one of mqtt, serial"),
    ("network", "bitcoin", "one of mainnet"),
    ("confirmations", 0, "confirmations"),
    ("confirmations", True, "confirmations"),
    ("confirmations", 1001, "confirmations"),
    ("dta_ids", [], "a list of 1..16"),
    ("dta_ids", ["ab" * 32] * 17, "a list of 1..16"),
    ("dta_ids", "ab" * 32, "a list of 1..16"),
    ("dta_ids", ["AB" * 32], r"dta_ids\[0\] must be 64 lowercase hex"),
    ("dta_ids", ["ab" * 31], r"dta_ids\[0\]"),
    ("dta_ids", ["ab" * 32, "ab" * 32], r"dta_ids\[1\] must be distinct"),
    ("dta_ids", [["ab" * 32]], r"dta_ids\[0\]"),
    ("checkpoint_height", -1, "checkpoint_height"),
    ("checkpoint_height", 2 ** 31, "checkpoint_height"),
    ("checkpoint_header", MAINNET_GENESIS[:-2], "160 lowercase hex"),
    ("checkpoint_header", MAINNET_GENESIS.upper(), "160 lowercase hex"),
    ("wifi_ssid", "x" * 33, "1..32 bytes"),
    ("wifi_ssid", "bad\nssid", "control characters"),
    ("serial", "lab/0001", "letters, digits"),
    ("once", 1, "true or false"),
    ("storage", None, "no empty value"),
])
def test_each_bad_value_is_refused_by_the_one_schema(key, value, match):
    # the host refuses it in device.toml ...
    with pytest.raises(ConfigError, match=match):
        devconfig.from_mapping(hardware_settings(**{key: None}) | {key: value}, "device.toml")
    # ... and the device refuses it in config.json, with the same words
    with pytest.raises(device.ConfigError, match=match):
        config_schema.check_config({key: value})


def test_the_device_config_error_is_a_protocol_error():
    assert issubclass(device.ConfigError, ProtocolError)


def test_unknown_and_missing_keys_are_named():
    with pytest.raises(ConfigError, match="unknown key 'colour'"):
        devconfig.from_mapping({"colour": "red"})
    with pytest.raises(ConfigError, match="needs network, confirmations"):
        render(hardware_settings(network=None, confirmations=None),
               {"wifi_password": WIFI_PASSWORD})
    with pytest.raises(ConfigError, match="set wifi_ssid"):
        render(hardware_settings(wifi_ssid=None))
    with pytest.raises(ConfigError, match="only apply to the emulated board"):
        render(hardware_settings(entropy_path="/dev/zero"), {"wifi_password": WIFI_PASSWORD})
    # the emulated board needs none of the trust settings
    assert json.loads(render({"mqtt_port": 1883}, board=UNIX)) == {"mqtt_port": 1883}


def test_trust_settings_go_together_on_the_device():
    with pytest.raises(device.ConfigError, match="go together"):
        config_schema.check_config({"network": "regtest"})


def test_a_checkpoint_header_must_be_a_header_of_its_network():
    with pytest.raises(ConfigError, match="not a mainnet block header.*easier than"):
        devconfig.from_mapping(hardware_settings(checkpoint_header=REGTEST_GENESIS))
    flipped = MAINNET_GENESIS[:-2] + "7d"  # nonce changed: the hash no longer meets the target
    with pytest.raises(ConfigError, match="hash above its target"):
        devconfig.from_mapping(hardware_settings(checkpoint_header=flipped))
    devconfig.from_mapping(hardware_settings(network="regtest", checkpoint_header=REGTEST_GENESIS))


@pytest.mark.parametrize("key", ["wifi_password", "mqtt_password"])
def test_a_secret_in_device_toml_is_refused_without_quoting_it(key, tmp_path):
    settings = hardware_settings(mqtt_user="dev") | {key: "hunter2-secret"}
    (tmp_path / "device.toml").write_text(toml_text(settings))
    with pytest.raises(ConfigError, match=f"{key} is a secret") as err:
        devconfig.load_device_toml(tmp_path / "device.toml")
    assert "hunter2-secret" not in str(err.value)


def test_secrets_come_from_a_private_file(tmp_path):
    path = write_secrets(tmp_path / "secrets.toml", f'wifi_password = "{WIFI_PASSWORD}"\n')
    secrets = devconfig.load_secrets(path)
    assert secrets.values == {"wifi_password": WIFI_PASSWORD}
    assert WIFI_PASSWORD not in repr(secrets) and WIFI_PASSWORD not in str(secrets)


@pytest.mark.parametrize("text, mode, match", [
    (f'wifi_password = "{WIFI_PASSWORD}"\n', 0o644, "readable by others.*chmod 600"),
    (f'wifi_password = "{WIFI_PASSWORD}"\n', 0o640, "readable by others"),
    ('mqtt_host = "x"\n', 0o600, "'mqtt_host' is not a secret"),
    ('wifi_password = "short"\n', 0o600, "WPA2 passphrase of 8..63"),
    ('wifi_password = "abc\n', 0o600, r"not valid TOML \(details not shown"),
    ("wifi_password = 12345678\n", 0o600, "WPA2 passphrase"),
])
def test_bad_secrets_files_are_refused_without_quoting_the_secret(tmp_path, text, mode, match):
    path = write_secrets(tmp_path / "secrets.toml", text, mode)
    with pytest.raises(ConfigError, match=match) as err:
        devconfig.load_secrets(path)
    for word in ("short", "abc", WIFI_PASSWORD):
        assert word not in str(err.value)


def test_a_symlinked_secrets_file_is_refused(tmp_path):
    real = write_secrets(tmp_path / "real.toml", f'wifi_password = "{WIFI_PASSWORD}"\n')
    (tmp_path / "link.toml").symlink_to(real)
    with pytest.raises(ConfigError, match="cannot open"):
        devconfig.load_secrets(tmp_path / "link.toml")


def test_the_prompt_asks_for_what_the_config_needs_and_never_echoes_it():
    asked = []

    def ask(prompt):
        asked.append(prompt)
        return WIFI_PASSWORD if "Wi-Fi" in prompt else "mqtt-pass-1"
    cfg = devconfig.from_mapping(hardware_settings(mqtt_user="dev"))
    secrets = devconfig.prompt_secrets(cfg, ask)
    assert asked == ["Wi-Fi password for 'factory-floor': ", "MQTT password for user 'dev': "]
    assert secrets.values == {"wifi_password": WIFI_PASSWORD, "mqtt_password": "mqtt-pass-1"}
    with pytest.raises(ConfigError, match="WPA2") as err:
        devconfig.prompt_secrets(cfg, lambda prompt: "tiny")
    assert "tiny" not in str(err.value)


def test_secrets_must_match_what_the_config_uses():
    with pytest.raises(ConfigError, match="needs wifi_password"):
        render(hardware_settings())
    with pytest.raises(ConfigError, match="secrets given for nothing.*mqtt_password"):
        render(hardware_settings(), {"wifi_password": WIFI_PASSWORD,
                                     "mqtt_password": "mqtt-pass-1"})


@pytest.mark.parametrize("raw, match", [
    (b"42", "must be a JSON object"),
    (b'"config"', "must be a JSON object"),
    (b"[1, 2]", "must be a JSON object"),
    (b"[" * 2000 + b"]" * 2000, "nested deeper than 2"),
    (b'{"dta_ids": [[' + b"[" * 100 + b"]" * 100 + b"]]}", "nested deeper than 2"),
    (b'{"wifi_ssid": "[[[\\"[[[", "mqtt_port": true}', "mqtt_port must be an integer"),
    (b"\xff\xfe{}", "not valid JSON"),
    (b'{"mqtt_port": 1883', "not valid JSON"),
    (b'{"mqtt_port": 1e400}', "mqtt_port"),
    (b" " * 4097, "larger than 4096"),
])
def test_the_device_loader_refuses_malformed_files(tmp_path, raw, match):
    path = tmp_path / "config.json"
    path.write_bytes(raw)
    with pytest.raises(device.ConfigError, match=match):
        device.load_config(str(path))


def test_a_missing_config_file_is_a_config_error(tmp_path):
    with pytest.raises(device.ConfigError, match="missing"):
        device.load_config(str(tmp_path / "nope.json"))


def test_the_device_keeps_only_the_board_keys_it_reads(tmp_path):
    path = tmp_path / "board.json"
    path.write_text(json.dumps(DEVKITC))
    board = device.load_board(str(path))
    assert sorted(board) == sorted(device.BOARD_KEYS)
    path.write_text(json.dumps(dict(DEVKITC, emulated="no")))
    with pytest.raises(device.ConfigError, match="emulated"):
        device.load_board(str(path))


def test_a_number_past_the_digit_limit_is_a_config_error(tmp_path):
    # tomllib's int() refusal is a bare ValueError, not a TOMLDecodeError (issue 14's fuzzing)
    (tmp_path / "device.toml").write_text(toml_text(hardware_settings()) +
                                          "\nkeepalive = 1" + "0" * 5000 + "\n")
    with pytest.raises(ConfigError, match="too long"):
        devconfig.load_device_toml(tmp_path / "device.toml")
    secrets = write_secrets(tmp_path / "secrets.toml", "wifi_password = 1" + "0" * 5000 + "\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        devconfig.load_secrets(secrets)
