# Board definition (board.json, shipped in the bundle) and device configuration (config.json,
# provisioned per device), read strictly: a size limit, then strict JSON syntax with a nesting
# limit (dtanode.jsontext) before the JSON parser runs, then the schema (dtanode.config_schema).
# Unknown keys are refused: a typo must not fall back silently. Every failure is a ConfigError.

import json

from dtanode.errors import ConfigError  # noqa: F401 (callers catch config.ConfigError)

# Limits, each with why it exists.
# 16 D-TA ids (67 bytes each in JSON) + a checkpoint header (163) + the rest stay under 2.5 KB;
# a bigger file is not a config, and reading it would cost a 64 KiB heap too much.
MAX_CONFIG_BYTES = 4096
# board.json is the full board definition (flashing details included): about 2 KB today.
MAX_BOARD_BYTES = 8192
# config.json is an object holding one list (dta_ids); nothing deeper is valid, and refusing
# deeper nesting before parsing keeps the parser's stack and heap bounded.
MAX_CONFIG_DEPTH = 2
# board.json nests object > transport > serial (and partitions > app): 3 levels, 1 spare.
MAX_BOARD_DEPTH = 4


# The board definition's keys the device reads.
BOARD_KEYS = ("name", "emulated", "entropy", "storage", "transport")


def _check_syntax(raw, limit_depth, what):
    # The checker's code is needed once per file: loaded for it, unloaded after on the device.
    import sys

    from dtanode import jsontext
    try:
        jsontext.check(raw, limit_depth, what)
    finally:
        if sys.implementation.name == "micropython":
            from dtanode.stages import unload
            unload("dtanode.jsontext")


def parse_json(raw, limit_bytes, limit_depth, what):
    # -> the JSON object in raw (bytes); every failure is a ConfigError.
    if len(raw) > limit_bytes:
        raise ConfigError("%s is larger than %d bytes" % (what, limit_bytes))
    _check_syntax(raw, limit_depth, what)
    try:
        data = json.loads(raw.decode())
    except (ValueError, UnicodeError):
        raise ConfigError("%s is not valid JSON" % what) from None
    except MemoryError:
        # Many small values can exhaust a small heap even within the size limit.
        raise ConfigError("%s does not fit in memory" % what) from None
    if type(data) is not dict:
        raise ConfigError("%s must be a JSON object" % what)
    return data


def _read(path, limit_bytes, what):
    # The size is checked before reading: no buffer of the limit's size is ever allocated.
    import os
    try:
        if os.stat(path)[6] > limit_bytes:
            raise ConfigError("%s is larger than %d bytes (%s)" % (what, limit_bytes, path))
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        raise ConfigError("%s missing (%s)" % (what, path)) from None


def load_board(path="board.json"):
    board = parse_json(_read(path, MAX_BOARD_BYTES, "board definition"), MAX_BOARD_BYTES,
                       MAX_BOARD_DEPTH, "board definition")
    # The device reads these; the flashing keys are the host's (dta.firmware.boards checks all).
    if type(board.get("name")) is not str or not board["name"]:
        raise ConfigError("board definition lacks a name")
    if type(board.get("entropy")) is not dict or type(board["entropy"].get("source")) is not str:
        raise ConfigError("board definition lacks an entropy source")
    if type(board.get("emulated", False)) is not bool:
        raise ConfigError("board definition: emulated must be true or false")
    if type(board["entropy"].get("path", "")) is not str:
        raise ConfigError("board definition: entropy.path must be a string")
    transport = board.get("transport", {})
    if type(transport) is not dict or type(transport.get("serial", {})) is not dict:
        raise ConfigError("board definition: transport must be an object")
    for k in ("uart", "baud", "tx", "rx"):
        if type(transport.get("serial", {}).get(k, 0)) is not int:
            raise ConfigError("board definition: transport.serial.%s must be an integer" % k)
    # Keep only what the device reads: the rest would hold heap for the device's lifetime.
    for k in [k for k in board if k not in BOARD_KEYS]:
        del board[k]
    return board


def load_config(path="config.json"):
    data = parse_json(_read(path, MAX_CONFIG_BYTES, "device config"), MAX_CONFIG_BYTES,
                      MAX_CONFIG_DEPTH, "device config")
    import gc
    import sys

    # The schema's code takes about 10 KiB of heap on the Unix port (half on an ESP32) while it
    # runs, once per boot: collect first (the collection a failed allocation triggers deep in
    # an import leaves more behind), then unload it again. The host keeps it loaded (and
    # skips the collection, which costs CPython far more than it saves).
    device = sys.implementation.name == "micropython"
    if device:
        gc.collect()
    from dtanode import config_schema
    try:
        return config_schema.check_config(data)
    finally:
        if device:
            from dtanode.stages import unload
            unload("dtanode.config_schema")
