# Board definition (board.json, shipped in the bundle) and device configuration (config.json,
# provisioned per device). Unknown config keys are refused: a typo must not fall back silently.

import json

CONFIG_KEYS = ("mqtt_host", "mqtt_port", "topic_prefix", "keepalive", "once", "entropy_path",
               "storage", "wifi_ssid", "wifi_password", "transport", "serial_path")
TRANSPORTS = ("mqtt", "serial")
DEFAULTS = {"mqtt_host": "127.0.0.1", "mqtt_port": 1883, "topic_prefix": "dta/v1",
            "keepalive": 30, "once": False, "entropy_path": None, "storage": ".",
            "wifi_ssid": None, "wifi_password": None, "transport": "mqtt", "serial_path": None}


class ConfigError(Exception):
    pass


def _read_json(path, what):
    try:
        with open(path) as f:
            data = json.load(f)
    except OSError:
        raise ConfigError("%s missing (%s)" % (what, path))
    except ValueError:
        raise ConfigError("%s is not valid JSON (%s)" % (what, path))
    if not isinstance(data, dict):
        raise ConfigError("%s must be a JSON object" % what)
    return data


def load_board(path="board.json"):
    board = _read_json(path, "board definition")
    if "name" not in board or "entropy" not in board:
        raise ConfigError("board definition lacks name or entropy")
    return board


def load_config(path="config.json"):
    cfg = dict(DEFAULTS)
    for k, v in _read_json(path, "device config").items():
        if k not in CONFIG_KEYS:
            raise ConfigError("unknown config key %r" % k)
        cfg[k] = v
    if not isinstance(cfg["mqtt_port"], int) or not 0 < cfg["mqtt_port"] < 65536:
        raise ConfigError("mqtt_port must be an integer port")
    if cfg["transport"] not in TRANSPORTS:
        raise ConfigError("transport must be one of %s" % ", ".join(TRANSPORTS))
    return cfg
