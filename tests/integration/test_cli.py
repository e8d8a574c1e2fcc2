"""The `dta` CLI as a user runs it: every command documents its exit codes, every failure is one
`error:` sentence naming the input and the fix with its own exit code, and no Python exception
text reaches the user; read-only commands create nothing."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from dta import exitcodes
from dta.cli import main

DTA = str(Path(sys.executable).parent / "dta")
PYTHON_TEXT = ("Traceback", "codec", "fromhex", "GetPassWarning", "Aborted!", "Error:")


def _commands(group: click.Group, prefix=()):
    for name, cmd in group.commands.items():
        yield prefix + (name,)
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, prefix + (name,))


def _leaves():
    for path in sorted(_commands(main)):
        cmd = main
        for name in path:
            cmd = cmd.commands[name]
        if not isinstance(cmd, click.Group):
            yield path


@pytest.mark.parametrize("path", [()] + sorted(_commands(main)), ids=lambda p: " ".join(p) or "dta")
def test_every_command_has_help(path):
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


@pytest.mark.parametrize("path", list(_leaves()), ids=lambda p: " ".join(p))
def test_every_command_documents_its_exit_codes(path):
    result = CliRunner().invoke(main, [*path, "--help"])
    assert "Exit codes" in result.output and "0   " in result.output, result.output


def dta(*args, env=None, data_dir=None, stdin=subprocess.DEVNULL):
    base = dict(os.environ, DTA_CONFIG="", DTA_DEBUG="")
    base.pop("DTA_PASSPHRASE", None)
    base.update(env or {})
    pre = ["--data-dir", str(data_dir)] if data_dir else []
    out = subprocess.run([DTA, *pre, *args], env=base, capture_output=True, text=True,
                         stdin=stdin, timeout=120)
    for text in PYTHON_TEXT:
        assert text not in out.stderr, out.stderr
    return out


def _error(out, code: int, *words: str) -> str:
    assert out.returncode == code, (out.returncode, out.stdout, out.stderr)
    line = [x for x in out.stderr.splitlines() if x.startswith("error: ")]
    assert len(line) == 1, out.stderr
    for w in words:
        assert w in line[0], line[0]
    return line[0]


@pytest.fixture(scope="module")
def authority(tmp_path_factory):
    d = tmp_path_factory.mktemp("authority")
    out = dta("authority", "init", "--name", "cli", data_dir=d,
              env={"DTA_PASSPHRASE": "right passphrase"})
    assert out.returncode == 0, out.stderr
    return d


def test_config_type_and_range_errors_are_config_errors(tmp_path):
    bad = tmp_path / "dta.toml"
    bad.write_text('[mqtt]\nport = "18831"\n')
    _error(dta("--config", str(bad), "devices", "list"), exitcodes.CONFIG, str(bad),
           "port", "without quotes")
    _error(dta("devices", "list", env={"DTA_MQTT_PORT": "99999"}), exitcodes.CONFIG,
           "$DTA_MQTT_PORT", "1..65535")


def test_random_bytes_are_an_invalid_receipt_not_a_codec_error(tmp_path, authority):
    junk = tmp_path / "random.bin"
    junk.write_bytes(bytes(range(256)) * 3)
    out = dta("verify", str(junk))
    assert out.returncode == exitcodes.VERIFY_FAILED
    assert out.stdout.startswith("INVALID: ") and str(junk) in out.stdout
    _error(dta("log", "verify", str(junk), data_dir=authority), exitcodes.VERIFY_FAILED,
           str(junk), "UTF-8", "dta log prove")


def test_bad_hex_options_name_the_option():
    _error(dta("verify", "--history", "zz"), exitcodes.USAGE, "--history", "'zz' is not hex")
    _error(dta("verify", "--history", "ab" * 31), exitcodes.USAGE, "--history", "32 bytes")
    _error(dta("log", "append", "0107aa"), exitcodes.USAGE, "entry 1", "not a log entry")
    _error(dta("log", "append", "xyz"), exitcodes.USAGE, "entry 1", "not hex")


def test_no_passphrase_and_no_terminal_is_a_passphrase_error(authority):
    _error(dta("authority", "reveal", data_dir=authority), exitcodes.PASSPHRASE,
           "$DTA_PASSPHRASE", "--passphrase-file")


def test_wrong_passphrase_and_open_passphrase_file(tmp_path, authority):
    _error(dta("authority", "reveal", data_dir=authority, env={"DTA_PASSPHRASE": "wrong"}),
           exitcodes.PASSPHRASE)
    pw = tmp_path / "pw"
    pw.write_text("right passphrase\n")
    pw.chmod(0o644)
    _error(dta("authority", "reveal", "--passphrase-file", str(pw), data_dir=authority),
           exitcodes.PASSPHRASE, str(pw), "chmod 600")
    pw.chmod(0o600)
    out = dta("authority", "reveal", "--passphrase-file", str(pw), "--json", data_dir=authority)
    assert out.returncode == 0 and json.loads(out.stdout)["name"] == "cli"


@pytest.mark.parametrize("args", [("devices", "list"), ("log", "show"), ("anchor", "status"),
                                  ("log", "show", "--from", "0"), ("status", "--no-broker"),
                                  ("devices", "list", "--json"), ("log", "prove", "0")])
def test_read_only_commands_create_nothing(tmp_path, args):
    empty = tmp_path / "nothing-here"
    out = dta(*args, data_dir=empty)
    assert not empty.exists()
    assert out.returncode in (exitcodes.OK, exitcodes.SETUP, exitcodes.PARTIAL), out.stderr
    text = (out.stdout + out.stderr).lower()
    assert any(w in text for w in ("nothing", "no devices yet", "empty", "no authority",
                                   '"registry": null')), text


def test_devices_list_on_an_empty_data_dir_says_so(tmp_path):
    out = dta("devices", "list", data_dir=tmp_path)
    assert out.returncode == 0 and out.stdout.startswith("no devices yet")
    data = json.loads(dta("devices", "list", "--json", data_dir=tmp_path).stdout)
    assert data == {"registry": None, "devices": [], "rejections": {},
                    "counts": {"pending": 0, "enrolled": 0, "revoked": 0}}


def test_prove_past_the_end_says_the_entry_does_not_exist(authority):
    from dtacore import entries

    entry = entries.DeviceEnrolled(bytes.fromhex("02" + "11" * 32), b"esp32-s3", 1).encode()
    env = {"DTA_PASSPHRASE": "right passphrase"}
    assert dta("log", "append", entry.hex(), entry.hex(), data_dir=authority,
               env=env).returncode == 0
    _error(dta("log", "prove", "9999", data_dir=authority), exitcodes.SETUP, "no entry 9999",
           "0..")


def test_log_show_lists_entries_readably(authority):
    out = dta("log", "show", "--from", "0", "--to", "1", data_dir=authority)
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    assert len(lines) == 2 and all("DeviceEnrolled" in x and "board esp32-s3" in x for x in lines)
    shown = json.loads(dta("log", "show", "0", "--json", data_dir=authority).stdout)
    assert shown["entry"]["board"] == "esp32-s3" and shown["entry"]["time_ms"] == 1


def test_unreachable_node_is_its_own_exit_code(authority):
    out = dta("anchor", "run", "--once", "--node", "http://u:p@127.0.0.1:1/", data_dir=authority,
              env={"DTA_PASSPHRASE": "right passphrase"})
    _error(out, exitcodes.UNREACHABLE, "127.0.0.1:1")


def test_bundle_json_lists_compiled_files(tmp_path):
    out = dta("firmware", "bundle", "--board", "esp32-s3", "--out", str(tmp_path / "b"), "--json")
    assert out.returncode == 0, out.stderr
    files = json.loads(out.stdout)["files"]
    assert "main.py" in files and "board.json" in files and "lib/umqtt/simple.mpy" in files
    assert all(f.endswith(".mpy") for f in files if f.startswith("lib/"))
    # the CPython-only backend stays off the device
    assert "lib/dtacore/cpython_crypto.mpy" not in files
    for rel, digest in files.items():
        assert hashlib.sha256((tmp_path / "b" / rel).read_bytes()).hexdigest() == digest


def test_unknown_board_is_a_clear_error(tmp_path):
    out = dta("firmware", "bundle", "--board", "esp8266", "--out", str(tmp_path / "b"))
    assert out.returncode != 0 and "unknown board 'esp8266'" in out.stderr


def test_usage_errors_use_the_same_prefix():
    out = dta("log", "show", "--frm", "1")
    assert out.returncode == exitcodes.USAGE
    assert out.stderr.splitlines()[-1].startswith("error: ")
