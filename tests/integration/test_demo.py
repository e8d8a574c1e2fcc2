"""The README's main job, run as a user would, stopping by itself once devices registered."""

import json
import subprocess
import sys
from pathlib import Path

DTA = str(Path(sys.executable).parent / "dta")


def run_demo(data_dir):
    return subprocess.run([DTA, "--data-dir", str(data_dir), "demo", "--exit-when-registered"],
                          capture_output=True, text=True, timeout=300)


def test_demo_registers_three_devices_and_they_keep_their_keys(tmp_path):
    first = run_demo(tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "all 3 devices are registered" in first.stdout
    assert first.stdout.count("made a new secp256k1 identity key") == 3
    assert "authority: created D-TA 'demo-dta'" in first.stdout
    assert first.stdout.count("logged as entry #") == 3
    assert "log: checkpoint #0 signed by the D-TA: 3 entries" in first.stdout
    # make test installs the regtest node, so the demo anchors for real here.
    assert "anchor: Birth Record: tx " in first.stdout
    assert "anchor: checkpoint 0: tx " in first.stdout
    listed = subprocess.run([DTA, "--data-dir", str(tmp_path / "demo"), "devices", "list",
                             "--json"], capture_output=True, text=True)
    devices = json.loads(listed.stdout)["devices"]
    assert len(devices) == 3 and {d["boot"] for d in devices} == {1}

    second = run_demo(tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert second.stdout.count("reloaded its secp256k1 identity key") == 3
    assert second.stdout.count("back online (boot #2)") == 3
    assert "authority: reopened D-TA 'demo-dta'" in second.stdout
    assert "holds 3 entries" in second.stdout and "logged as entry" not in second.stdout


def test_demo_stops_cleanly_on_ctrl_c(tmp_path):
    import os
    import re
    import signal
    import socket

    proc = subprocess.Popen([DTA, "--data-dir", str(tmp_path), "demo", "--devices", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    seen = []
    for line in proc.stdout:  # read until the demo says it is running
        seen.append(line)
        if "press Ctrl-C to stop" in line:
            break
    port = int(re.search(r"mqtt://127\.0\.0\.1:(\d+)", "".join(seen)).group(1))
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, rest
    assert "stopping devices, gateway and broker" in rest and "Traceback" not in rest
    with socket.socket() as s:  # the demo's broker is gone with it
        assert s.connect_ex(("127.0.0.1", port)) != 0
