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
