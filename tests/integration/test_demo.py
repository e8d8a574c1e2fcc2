"""The README's main job, run as a user would, stopping by itself once devices registered."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

from dta import exitcodes
from tests.fixtures.fleet import Lines

DTA = str(Path(sys.executable).parent / "dta")


def run_demo(data_dir, **env):
    base = dict(os.environ, DTA_CONFIG="")
    base.pop("DTA_PASSPHRASE", None)
    return subprocess.run([DTA, "--data-dir", str(data_dir), "demo", "--exit-when-registered"],
                          capture_output=True, text=True, timeout=300, env=dict(base, **env))


def test_demo_registers_three_devices_and_they_keep_their_keys(tmp_path):
    first = run_demo(tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "all 3 devices are registered" in first.stdout
    assert first.stdout.count("made a new secp256k1 identity key") == 3
    assert "authority: created D-TA 'demo-dta'" in first.stdout
    assert "sealed with the demo passphrase" in first.stdout
    assert "authentication required" in first.stdout
    assert first.stdout.count("pending approval (boot #1)") == 3
    assert first.stdout.count("its enrolment is logged as entry #") == 3
    assert "log: checkpoint #0 signed by the D-TA: 3 entries" in first.stdout
    # make test installs the regtest node, so the demo anchors for real here, on a chain it
    # says is new, and leaves no chain folder behind.
    assert "anchor: Birth Record: tx " in first.stdout
    assert "anchor: checkpoint 0: tx " in first.stdout
    assert "on a regtest chain made for this run" in first.stdout
    assert not [p for p in (tmp_path / "demo").iterdir() if "chain" in p.name]
    assert first.stderr == ""  # each event once, narrated; no log line repeats it
    listed = subprocess.run([DTA, "--data-dir", str(tmp_path / "demo"), "devices", "list",
                             "--json"], capture_output=True, text=True,
                            env=dict(os.environ, DTA_CONFIG=""))
    devices = json.loads(listed.stdout)["devices"]
    assert len(devices) == 3 and {(d["boot"], d["state"]) for d in devices} == {(1, "enrolled")}

    second = run_demo(tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert second.stdout.count("reloaded its secp256k1 identity key") == 3
    assert second.stdout.count("back online (boot #2, enrolled)") == 3
    assert "authority: reopened D-TA 'demo-dta'" in second.stdout
    assert "holds 3 entries" in second.stdout and "logged as entry" not in second.stdout


def test_demo_says_when_the_environments_passphrase_does_not_open_it(tmp_path):
    assert run_demo(tmp_path, DTA_PASSPHRASE="").returncode == 0  # made with the demo's
    other = run_demo(tmp_path, DTA_PASSPHRASE="my own passphrase")
    assert other.returncode == 0, other.stdout + other.stderr
    assert "$DTA_PASSPHRASE does not open the demo authority" in other.stdout
    assert "secrets sealed with the demo passphrase" in other.stdout


def test_demo_refuses_clearly_when_no_passphrase_opens_it(tmp_path):
    assert run_demo(tmp_path, DTA_PASSPHRASE="made with this").returncode == 0
    other = run_demo(tmp_path, DTA_PASSPHRASE="but opened with that")
    assert other.returncode == exitcodes.PASSPHRASE
    assert "error: neither $DTA_PASSPHRASE nor the demo passphrase opens" in other.stderr
    assert "Traceback" not in other.stderr


def test_demo_stops_quietly_on_ctrl_c_at_the_terminal(tmp_path):
    # A terminal's Ctrl-C signals the whole foreground process group: the demo, and (unless
    # they run in their own sessions) the broker and the MicroPython devices.
    proc = subprocess.Popen([DTA, "--data-dir", str(tmp_path), "demo", "--devices", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1", DTA_CONFIG=""),
                            start_new_session=True)
    lines = Lines(proc.stdout)
    lines.until(lambda line: "press Ctrl-C to stop" in line, 120)
    port = int(re.search(r"mqtt://127\.0\.0\.1:(\d+)", "\n".join(lines.seen)).group(1))
    os.killpg(proc.pid, signal.SIGINT)
    rest = lines.rest(60)
    assert proc.wait(60) == 0, rest
    after = rest[rest.index(next(x for x in rest if "press Ctrl-C" in x)) + 1:]
    assert "stopping devices, gateway and broker" in after[0]
    assert not any("Traceback" in x or "KeyboardInterrupt" in x or "device-" in x
                   for x in after), after
    with socket.socket() as s:  # the demo's broker is gone with it
        assert s.connect_ex(("127.0.0.1", port)) != 0


def test_a_second_demo_on_the_same_data_dir_is_refused(tmp_path):
    proc = subprocess.Popen([DTA, "--data-dir", str(tmp_path), "demo", "--devices", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1", DTA_CONFIG=""))
    lines = Lines(proc.stdout)
    try:
        lines.until(lambda line: "press Ctrl-C to stop" in line, 120)
        second = run_demo(tmp_path)
        assert second.returncode == exitcodes.BUSY
        assert "error: another `dta demo`" in second.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
