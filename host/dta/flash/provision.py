"""`dta devices provision`: replace the config of a running board over its raw REPL, without
reflashing, then let it reboot into it.

Over mpremote's serial transport, as `mpremote resume` does (Ctrl-C stops main.py, Ctrl-A
enters the raw REPL, no soft reset first):
  1. read board.json (to check the new config for this board) and the current factory serial
     (kept when the new config names none);
  2. write config.json.tmp, then recompute its SHA-256 on the device and compare;
  3. have the device's own loader (dtanode.config.load_config) check config.json.tmp: a config
     the device would refuse at boot is refused now, and config.json is left as it was;
  4. rename config.json.tmp over config.json (atomic on LittleFS and on the Unix port), check
     its digest again;
  5. reset: machine.reset() on a board; the Unix port has none, so machine.soft_reset() ends
     the emulated device's process and its harness starts it again (the stand-in for a reset);
  6. read the console until the device's hello (same key: the key file is not touched).
When a step after (1) fails, the device is still reset into its old config and the error says
why. The Wi-Fi and MQTT passwords travel only inside config.json on the serial line; nothing
prints them.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from mpremote.transport import TransportError, TransportExecError
from mpremote.transport_serial import SerialTransport

from dta import strictjson
from dta.errors import ConfigError, DecodeError
from dta.firmware import boards
from dta.flash import console, devconfig
from dta.flash.errors import DeviceError

CONFIG_FILE = "config.json"
NEW_FILE = "config.json.tmp"
BOARD_FILE = "board.json"
RESET_CODE = "import machine\n(getattr(machine, 'reset', None) or machine.soft_reset)()\n"
READ_SERIAL_CODE = (
    "import json\ntry:\n with open(%r) as f:\n  print(repr(json.load(f).get('serial')))\n"
    "except Exception:\n print('None')\n" % CONFIG_FILE)
CHECK_CODE = "from dtanode import config\nconfig.load_config(%r)\n" % NEW_FILE
RENAME_CODE = "import os\nos.rename(%r, %r)\n" % (NEW_FILE, CONFIG_FILE)
REMOVE_CODE = "import os\ntry:\n os.remove(%r)\nexcept OSError:\n pass\n" % NEW_FILE


@dataclass(frozen=True)
class Provisioned:
    serial: str | None
    config_bytes: int
    hello: console.Hello


def _device_error(what: str, exc: Exception) -> DeviceError:
    detail = getattr(exc, "error_output", str(exc)).strip().splitlines()
    return DeviceError(f"{what}: {detail[-1] if detail else exc}")


def _read_board(transport: SerialTransport) -> dict:
    # Only what the config check needs (name, emulated): a board flashed with an older bundle
    # has an older board.json, and must stay provisionable.
    try:
        raw = bytes(transport.fs_readfile(BOARD_FILE))
        board = strictjson.loads(raw, what="board.json on the device",
                                 max_bytes=boards.MAX_BOARD_FILE)
    except (TransportError, OSError) as exc:
        raise _device_error("cannot read the device's board.json", exc) from None
    except DecodeError as exc:
        raise DeviceError(str(exc)) from None
    if not isinstance(board, dict) or not isinstance(board.get("name"), str) or \
            not isinstance(board.get("emulated"), bool):
        raise DeviceError("board.json on the device has no name or emulated flag")
    return {"name": board["name"], "emulated": board["emulated"]}


def _read_serial(transport: SerialTransport) -> str | None:
    out = transport.exec(READ_SERIAL_CODE).decode().strip()
    if out == "None":
        return None
    if len(out) > 2 and out[0] == out[-1] == "'":
        return out[1:-1]
    raise DeviceError(f"the device answered {out[:60]!r} for its serial")


def _digest(transport: SerialTransport, path: str) -> bytes:
    return bytes(transport.fs_hashfile(path, "sha256"))


def _install(transport: SerialTransport, data: bytes) -> None:
    want = hashlib.sha256(data).digest()
    transport.fs_writefile(NEW_FILE, data)
    if not hmac.compare_digest(_digest(transport, NEW_FILE), want):
        raise DeviceError(f"{NEW_FILE} on the device does not hold what was written")
    try:
        transport.exec(CHECK_CODE)
    except TransportExecError as exc:
        raise _device_error("the device refuses the new config", exc) from None
    transport.exec(RENAME_CODE)
    if not hmac.compare_digest(_digest(transport, CONFIG_FILE), want):
        raise DeviceError(f"{CONFIG_FILE} on the device does not hold the new config")


def _render(transport, cfg, secrets) -> tuple[bytes, str | None]:
    board = _read_board(transport)
    serial = None if cfg.get("serial") is not None else _read_serial(transport)
    return devconfig.render(cfg, secrets, board, serial=serial), serial or cfg.get("serial")


def _convert(exc: Exception) -> Exception:
    if isinstance(exc, (ConfigError, DeviceError)):
        return exc
    return _device_error("writing the config failed", exc)


def _update(transport: SerialTransport, cfg, secrets) -> tuple[bytes, str | None]:
    try:
        data, serial = _render(transport, cfg, secrets)
        _install(transport, data)
        return data, serial
    except (ConfigError, DeviceError, TransportError, OSError):
        try:
            transport.exec(REMOVE_CODE)
        except TransportError:
            pass  # the original error says more
        raise


def provision(port: str, cfg: devconfig.DeviceConfig, secrets: devconfig.Secrets, *,
              baud: int = console.CONSOLE_BAUD, hello_timeout: float = console.HELLO_TIMEOUT,
              on_console=None) -> Provisioned:
    """Install cfg + secrets as config.json on the board running on `port`; -> its hello
    after the reboot. On a failure the board is reset into its old config and the error
    raised (ConfigError for a config this board cannot take, DeviceError otherwise)."""
    try:
        transport = SerialTransport(port, baudrate=baud)
    except TransportError as exc:
        raise DeviceError(f"cannot open {port}: {exc}") from None
    try:
        transport.enter_raw_repl(soft_reset=False)
        failure, data, serial = None, b"", None
        try:
            data, serial = _update(transport, cfg, secrets)
        except (ConfigError, DeviceError, TransportError, OSError) as exc:
            failure = _convert(exc)
        transport.exec_raw_no_follow(RESET_CODE)
        try:
            hello = console.wait_for_hello(transport.serial, timeout=hello_timeout,
                                           on_line=on_console)
        except DeviceError:
            if failure is None:
                raise
            hello = None
        if failure is not None:
            raise failure
        return Provisioned(serial, len(data), hello)
    except TransportError as exc:
        raise _device_error(f"raw REPL on {port}", exc) from None
    finally:
        transport.close()
