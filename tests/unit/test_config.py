"""Configuration: TOML file, environment, strictness."""

from pathlib import Path

import pytest

from dta import config
from dta.errors import ConfigError


def test_defaults_without_file(tmp_path):
    cfg = config.load(env={"DTA_DATA_DIR": str(tmp_path)})
    assert cfg.data_dir == tmp_path and cfg.mqtt.port == 1883


def test_file_then_env(tmp_path):
    f = tmp_path / "dta.toml"
    f.write_text('data_dir = "/srv/dta"\n[mqtt]\nhost = "10.0.0.1"\nport = 8883\n')
    cfg = config.load(f, env={"DTA_MQTT_PORT": "1884"})
    assert (cfg.data_dir, cfg.mqtt.host, cfg.mqtt.port) == (Path("/srv/dta"), "10.0.0.1", 1884)


@pytest.mark.parametrize("text,match", [
    ("[mqtt]\nprot = 1\n", "unknown key 'prot'"),
    ("[mqtt]\nport = 'x'\n", "expected an integer"),
    ("[mqtt]\nport = true\n", "expected an integer"),
    ("mqtt = 3\n", "expected a table"),
    ("[mqtt\n", "not valid TOML"),
    ("colour = 'red'\n", "unknown key 'colour'"),
])
def test_malformed_config_is_a_clear_error(tmp_path, text, match):
    f = tmp_path / "dta.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=match):
        config.load(f, env={})


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        config.load(tmp_path / "nope.toml", env={})


def test_bad_env_value():
    with pytest.raises(ConfigError, match="DTA_MQTT_PORT"):
        config.load(env={"DTA_MQTT_PORT": "eighty"})


@pytest.mark.parametrize("text,match", [
    ('[mqtt]\nport = "18831"\n', r"expected an integer, got '18831': write port = 18831 without"),
    ("[mqtt]\nport = 99999\n", r"port: must be an integer in 1\.\.65535 .*devices refuse"),
    ("[mqtt]\nport = 0\n", r"1\.\.65535"),
    ('[mqtt]\ntopic_prefix = "dta/#"\n', "without wildcards"),
    ("[mqtt]\nkeepalive = 70000\n", r"0\.\.65535"),
    ("[log]\nwindow_seconds = 0\n", r"0 is outside 1\.\.86400"),
    ('[gateway]\ninstance = "Main Gateway"\n', "does not match"),
    ("[gateway]\nmax_frame = 4096\n", r"outside 1\.\.512"),
    ("[chain]\nfee_floor = 5000\nfee_max = 1000\n", "fee_floor .* is above chain.fee_max"),
    ('[mqtt]\npassword_file = "/x"\n', "password_file is set but mqtt.username is not"),
    ('[log]\norigin = "two words"\n', "does not match"),
])
def test_types_and_ranges_are_checked_at_load(tmp_path, text, match):
    f = tmp_path / "dta.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=match):
        config.load(f, env={})


@pytest.mark.parametrize("value,ok", [("1884", True), (" 1884 ", True), ("99999", False),
                                      ("0", False), ("18.5", False), ("0x10", False)])
def test_environment_goes_through_the_same_checks(value, ok):
    env = {"DTA_MQTT_PORT": value}
    if ok:
        assert config.load(env=env).mqtt.port == 1884
        return
    with pytest.raises(ConfigError, match=r"\$DTA_MQTT_PORT \(mqtt\.port\)"):
        config.load(env=env)


def test_file_and_environment_refuse_the_same_value_with_the_same_reason(tmp_path):
    f = tmp_path / "dta.toml"
    f.write_text("[mqtt]\nport = 99999\n")
    with pytest.raises(ConfigError) as from_file:
        config.load(f, env={})
    with pytest.raises(ConfigError) as from_env:
        config.load(env={"DTA_MQTT_PORT": "99999"})
    assert str(from_file.value).split(": ", 1)[1] == str(from_env.value).split(": ", 1)[1]


def test_update_file_keeps_other_values_and_is_private(tmp_path):
    f = tmp_path / "dta.toml"
    f.write_text('[log]\norigin = "example.org/log"\n[mqtt]\nkeepalive = 60\n')
    config.update_file(f, {"mqtt": {"port": 18831, "username": "dta-gateway"},
                           "chain": {"rpc_url": "http://127.0.0.1:1/"}})
    cfg = config.load(f, env={})
    assert (cfg.log.origin, cfg.mqtt.keepalive, cfg.mqtt.port, cfg.mqtt.username,
            cfg.chain.rpc_url) == ("example.org/log", 60, 18831, "dta-gateway",
                                   "http://127.0.0.1:1/")
    assert f.stat().st_mode & 0o777 == 0o600


def test_update_file_refuses_a_bad_value_and_leaves_the_file(tmp_path):
    f = tmp_path / "dta.toml"
    f.write_text("[mqtt]\nport = 1883\n")
    with pytest.raises(ConfigError, match="1..65535"):
        config.update_file(f, {"mqtt": {"port": 70000}})
    assert f.read_text() == "[mqtt]\nport = 1883\n"


def test_secret_files_must_be_private(tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    secret.chmod(0o644)
    with pytest.raises(ConfigError, match=r"mode 0644\): run `chmod 600"):
        config.read_secret_file(str(secret), "mqtt.password_file")
    secret.chmod(0o600)
    assert config.read_secret_file(str(secret), "mqtt.password_file") == "s3cret"


# Issue 14's findings, one fixed case each (the fuzz properties draw them only at random).
@pytest.mark.parametrize("data,match", [
    (b"[mqtt]\nhost = '\xff'\n", "UTF-8"),
    (b"x = " + b"[" * 1000 + b"]" * 1000 + b"\n", "nested too deep"),
    (b"[mqtt]\nport = inf\n", r"\[mqtt\]\.port: expected an integer"),
    (b"[mqtt]\nport = 1" + b"0" * 5000 + b"\n", "too long|digits"),
    (b"[mqtt]\nport = 0x" + b"f" * 40 + b"\n", "at most 64 bits"),
    (b"data_dir = '~nouser-dta/x'\n", "no user 'nouser-dta'"),
    (b"data_dir = '/tmp/" + b"b" * 300 + b"/x'\n", "shorten it"),
])
def test_issue_14_config_findings_are_config_errors(tmp_path, data, match):
    f = tmp_path / "dta.toml"
    f.write_bytes(data)
    with pytest.raises(ConfigError, match=match):
        config.load(f, env={})


@pytest.mark.parametrize("env,match", [
    ({"DTA_DATA_DIR": "~nouser-dta"}, "no user 'nouser-dta'"),
    ({"DTA_MQTT_HOST": "\udc80"}, "DTA_MQTT_HOST"),
])
def test_issue_14_environment_findings_are_config_errors(env, match):
    with pytest.raises(ConfigError, match=match):
        config.load(env=env)
