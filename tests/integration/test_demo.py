"""The README's main job, run as a user would: `dta demo --exit-when-done` tells the whole
federation story on embedded defaults (three D-TAs born on the demo's own regtest chain, a
gateway, three devices on MQTT and one on a serial line, all real: mosquitto, bcoin, the
firmware on the MicroPython VM), then a second run finds everything and continues.

The facts are read from the summary the demo writes (summary.json) and checked here
independently where they can be: each device's combined key against the sum of the public
shares the D-TAs signed for it, recomputed with dtacore."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from dta import exitcodes
from dta.services.devnet import Devnet
from dtacore import backend
from tests.fixtures.fleet import Lines

DTA = str(Path(sys.executable).parent / "dta")
DEVICES = ["mqtt-1", "mqtt-2", "mqtt-3", "serial-1"]
# What the summary says about a receipt the device can no longer be given (dta.demo.story):
# a known limitation of the device's receipt requests, not the demo's to fix.
STUCK = "cannot reach the device"
# Seconds each run's devices get (the story takes ~30 s here); two runs stay inside the test's
# time limit even when one of them never completes.
STORY_TIMEOUT = "150"


@pytest.fixture(autouse=True)
def _no_services_left(tmp_path):
    """A demo killed mid-run (a test's time limit) leaves its devnet running, as `dta devnet`
    does; stop it by PID here whatever the test did."""
    yield
    Devnet(tmp_path / "demo").down()


def run_demo(data_dir, *args, **env):
    base = dict(os.environ, DTA_CONFIG="")
    base.pop("DTA_PASSPHRASE", None)
    return subprocess.run([DTA, "--data-dir", str(data_dir), "demo", "--exit-when-done",
                           "--timeout", STORY_TIMEOUT, *args],
                          capture_output=True, text=True, timeout=400, env=dict(base, **env))


def summary(data_dir) -> dict:
    return json.loads((Path(data_dir) / "demo" / "summary.json").read_text())


def _check_run(out, s: dict) -> dict:
    """The facts every run must show; -> the devices by name."""
    assert out.stderr == "", out.stderr  # each step narrated once; no log line repeats it
    assert "Traceback" not in out.stdout
    assert [d["name"] for d in s["devices"]] == DEVICES
    assert len(s["dtas"]) == 3 and all(t["born"] for t in s["dtas"])
    assert s["totals"]["entries"] > 0 and s["totals"]["anchors_final"] > 3
    for d in s["devices"]:
        shares = d["shares"]
        assert len(shares) == 3 and all(shares), d
        total = backend.point_sum([bytes.fromhex(r["public_share"]) for r in shares]).hex()
        assert d["combined_key"] == total, d["name"]  # the key = sum of D-TA-signed shares
        assert all(p["trusted"] and p["session"] for p in d["per_dta"]), d["per_dta"]
        assert d["events"]["this_run"] > 0 and d["events"]["bad_signatures"] == 0
    return {d["name"]: d for d in s["devices"]}


def _receipts(runs) -> None:
    """Every device verified each D-TA's anchored receipt, and so both runs exit 0; or the
    known limitation, named (xfail)."""
    stuck = [f for _, s in runs for d in s["devices"] for f in d["failed"] if STUCK in f]
    if stuck:
        pytest.xfail(f"a device's receipt requests start at its current tip, so a receipt "
                     f"anchored below it never reaches it: {stuck[0]}")
    for out, s in runs:
        assert out.returncode == 0, out.stdout[-3000:]
        assert s["complete"] and s["totals"]["receipts_verified"] == 12
        assert all(p["receipt"]["verified"] for d in s["devices"] for p in d["per_dta"])


@pytest.mark.timeout(420)
def test_the_federation_story_then_a_second_run_continues(tmp_path):
    first = run_demo(tmp_path)
    s1 = summary(tmp_path)
    devices1 = _check_run(first, s1)
    assert all(t["created_this_run"] for t in s1["dtas"])
    assert first.stdout.count("made a new secp256k1 identity key") == 4
    assert first.stdout.count("on every D-TA automatically") == 4  # and it says so
    assert "enrolment was approved automatically by the demo" in first.stdout
    assert first.stdout.count("verified D-TA 2's birth itself") == 4
    assert re.search(r"serial-1: full handshake with D-TA 3", first.stdout)
    assert all(p["session"] == "full" for d in devices1.values() for p in d["per_dta"])
    assert all(t["entries_this_run"] > 0 for t in s1["dtas"])

    second = run_demo(tmp_path)
    s2 = summary(tmp_path)
    devices2 = _check_run(second, s2)
    assert [(t["dta_id"], t["born"]) for t in s2["dtas"]] == [
        (t["dta_id"], t["born"]) for t in s1["dtas"]]  # the same births: nothing born again
    assert not any(t["created_this_run"] for t in s2["dtas"])
    assert second.stdout.count("found born") == 3 and "mined a coinbase" not in second.stdout
    assert "made a new" not in second.stdout and "issued device" not in second.stdout
    assert second.stdout.count("reloaded its identity key") == 4
    for name in DEVICES:  # same keys, same shares (same subject and epoch), same entries
        assert devices2[name]["key_id"] == devices1[name]["key_id"]
        assert devices2[name]["combined_key"] == devices1[name]["combined_key"]
        assert devices2[name]["shares"] == devices1[name]["shares"]
        assert all(p["session"] == "resumed" for p in devices2[name]["per_dta"])
    assert s2["dtas"][0]["entries_this_run"] > 0  # the devices' events of this run
    _receipts([(first, s1), (second, s2)])


def test_demo_says_when_the_environments_passphrase_does_not_open_it(tmp_path):
    made = run_demo(tmp_path, "--devices", "0", "--no-serial", DTA_PASSPHRASE="")
    assert made.returncode == 0, made.stdout + made.stderr
    assert made.stdout.count("secrets sealed with the demo passphrase") == 3
    other = run_demo(tmp_path, "--devices", "0", "--no-serial",
                     DTA_PASSPHRASE="my own passphrase")
    assert other.returncode == 0, other.stdout + other.stderr
    assert "$DTA_PASSPHRASE does not open the demo's D-TAs" in other.stdout
    assert other.stdout.count("reopened 'demo-dta-") == 3


def test_demo_refuses_clearly_when_no_passphrase_opens_it(tmp_path):
    made = run_demo(tmp_path, "--devices", "0", "--no-serial", DTA_PASSPHRASE="made with this")
    assert made.returncode == 0, made.stdout + made.stderr
    other = run_demo(tmp_path, "--devices", "0", "--no-serial",
                     DTA_PASSPHRASE="but opened with that")
    assert other.returncode == exitcodes.PASSPHRASE
    assert "error: neither $DTA_PASSPHRASE nor the demo passphrase opens" in other.stderr
    assert "Traceback" not in other.stderr
    port = int(re.search(r"mqtt://127\.0\.0\.1:(\d+)", other.stdout).group(1))
    with socket.socket() as s:  # the services it had started are stopped again
        assert s.connect_ex(("127.0.0.1", port)) != 0


def test_demo_stops_quietly_on_ctrl_c_at_the_terminal(tmp_path):
    # A terminal's Ctrl-C signals the whole foreground process group: the demo, and (unless
    # they run in their own sessions) the broker, the node and the MicroPython devices.
    proc = subprocess.Popen([DTA, "--data-dir", str(tmp_path), "demo", "--devices", "1",
                             "--no-serial"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1", DTA_CONFIG=""),
                            start_new_session=True)
    lines = Lines(proc.stdout)
    lines.until(lambda line: "press Ctrl-C to stop" in line, 300)
    port = int(re.search(r"mqtt://127\.0\.0\.1:(\d+)", "\n".join(lines.seen)).group(1))
    os.killpg(proc.pid, signal.SIGINT)
    rest = lines.rest(60)
    complete = summary(tmp_path)["complete"]
    assert proc.wait(60) == (exitcodes.OK if complete else exitcodes.VERIFY_FAILED), rest
    after = rest[rest.index(next(x for x in rest if "press Ctrl-C" in x)) + 1:]
    assert "stopping devices, gateway, D-TAs, broker and node" in after[0]
    assert not any("Traceback" in x or "KeyboardInterrupt" in x or "mqtt-1" in x
                   for x in after), after
    with socket.socket() as s:  # the demo's broker is gone with it
        assert s.connect_ex(("127.0.0.1", port)) != 0


def test_a_second_demo_on_the_same_data_dir_is_refused(tmp_path):
    proc = subprocess.Popen([DTA, "--data-dir", str(tmp_path), "demo", "--devices", "0",
                             "--no-serial"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1", DTA_CONFIG=""))
    lines = Lines(proc.stdout)
    try:
        lines.until(lambda line: "services: mosquitto" in line, 120)
        second = run_demo(tmp_path)
        assert second.returncode == exitcodes.BUSY
        assert "error: another `dta demo`" in second.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
