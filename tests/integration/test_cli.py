"""The `dta` CLI as a user runs it: every command has --help, config errors are clear."""

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from dta.cli import main

DTA = str(Path(sys.executable).parent / "dta")


def _commands(group: click.Group, prefix=()):
    for name, cmd in group.commands.items():
        yield prefix + (name,)
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, prefix + (name,))


@pytest.mark.parametrize("path", [()] + sorted(_commands(main)), ids=lambda p: " ".join(p) or "dta")
def test_every_command_has_help(path):
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_malformed_config_is_reported_without_traceback(tmp_path):
    bad = tmp_path / "dta.toml"
    bad.write_text("[mqtt]\nport = 'x'\n")
    out = subprocess.run([DTA, "--config", str(bad), "devices", "list"], capture_output=True,
                         text=True)
    assert out.returncode != 0
    assert "expected an integer" in out.stderr and "Traceback" not in out.stderr


def test_bundle_json_lists_compiled_files(tmp_path):
    out = subprocess.run([DTA, "firmware", "bundle", "--board", "esp32-s3", "--out",
                          str(tmp_path / "b"), "--json"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    files = json.loads(out.stdout)["files"]
    assert "main.py" in files and "board.json" in files and "lib/umqtt/simple.mpy" in files
    assert all(f.endswith(".mpy") for f in files if f.startswith("lib/"))
    # the CPython-only backend stays off the device
    assert "lib/dtacore/cpython_crypto.mpy" not in files
    for rel, digest in files.items():
        import hashlib
        assert hashlib.sha256((tmp_path / "b" / rel).read_bytes()).hexdigest() == digest


def test_unknown_board_is_a_clear_error(tmp_path):
    out = subprocess.run([DTA, "firmware", "bundle", "--board", "esp8266", "--out",
                          str(tmp_path / "b")], capture_output=True, text=True)
    assert out.returncode != 0 and "unknown board 'esp8266'" in out.stderr
    assert "Traceback" not in out.stderr


def test_devices_list_on_empty_registry(tmp_path):
    out = subprocess.run([DTA, "--data-dir", str(tmp_path), "devices", "list", "--json"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"devices": [], "rejections": {}}
