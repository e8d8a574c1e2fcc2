"""`dta gateway run` and `dta devices emulate` as separate processes, as an operator runs them."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

DTA = str(Path(sys.executable).parent / "dta")


def test_gateway_process_registers_an_emulated_device(broker, tmp_path):
    env = dict(os.environ, DTA_DATA_DIR=str(tmp_path / "gw"), DTA_MQTT_PORT=str(broker.port),
               PYTHONUNBUFFERED="1", DTA_PASSPHRASE="gateway test passphrase")
    init = subprocess.run([DTA, "authority", "init", "--name", "gw-test"], env=env,
                          capture_output=True, text=True)
    assert init.returncode == 0, init.stderr
    gw = subprocess.Popen([DTA, "gateway", "run"], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    try:
        ready = gw.stdout.readline()  # printed once the broker acknowledged the subscription
        assert "gateway listening on mqtt://127.0.0.1:" in ready, ready
        dev_env = dict(env, DTA_DATA_DIR=str(tmp_path / "dev"))
        for _ in range(2):
            out = subprocess.run([DTA, "devices", "emulate", str(tmp_path / "dev" / "d1"),
                                  "--once"],
                                 env=dev_env, capture_output=True, text=True, timeout=120)
            assert out.returncode == 0, out.stdout + out.stderr
        events = [json.loads(line) for line in out.stdout.splitlines()]
        kid = next(e["key_id"] for e in events if e["event"] == "hello")
        # Three lines, the checkpoint's place among them depending on the window's timing: the
        # gateway closes the window's checkpoint by itself, signed by the authority.
        lines = sorted(gw.stdout.readline().strip() for _ in range(3))
        assert lines[0].startswith("checkpoint #0: 1 entries, root "), lines
        assert lines[1] == f"device {kid} back online (boot #2)"
        assert lines[2].startswith(f"new device {kid} (unix, firmware") and "entry #0" in lines[2]
    finally:
        gw.send_signal(signal.SIGINT)
        rest, _ = gw.communicate(timeout=30)
    assert gw.returncode == 0 and "gateway stopped" in rest
    listed = subprocess.run([DTA, "devices", "list", "--json"], env=env, capture_output=True,
                            text=True)
    (device,) = json.loads(listed.stdout)["devices"]
    assert device["key_id"] == kid and device["boot"] == 2 and device["hellos"] == 2
    shown = json.loads(subprocess.run([DTA, "log", "show", "0"], env=env, capture_output=True,
                                      text=True).stdout)
    assert shown["entry"]["type"] == "DeviceEnrolled"
    assert shown["entry"]["device_key"] == device["pubkey"]


def test_gateway_refuses_to_run_without_an_authority(broker, tmp_path):
    env = dict(os.environ, DTA_DATA_DIR=str(tmp_path), DTA_MQTT_PORT=str(broker.port))
    out = subprocess.run([DTA, "gateway", "run"], env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode != 0 and "dta authority init" in out.stderr


def test_gateway_process_reads_a_device_on_a_serial_cable(tmp_path):
    from dta.services.serial_pty import PtyPair

    env = dict(os.environ, DTA_DATA_DIR=str(tmp_path / "gw"), PYTHONUNBUFFERED="1",
               DTA_PASSPHRASE="serial gateway test")
    assert subprocess.run([DTA, "authority", "init", "--name", "serial"], env=env,
                          capture_output=True).returncode == 0
    with PtyPair(tmp_path / "pty") as cable:
        gw = subprocess.Popen([DTA, "gateway", "run", "--no-mqtt", "--serial",
                               str(cable.gateway_end)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
        try:
            ready = gw.stdout.readline()
            assert f"gateway listening on serial {cable.gateway_end} at 115200 baud" in ready
            out = subprocess.run([DTA, "devices", "emulate", str(tmp_path / "dev" / "s1"),
                                  "--once", "--serial", str(cable.device_end)],
                                 env=dict(env, DTA_DATA_DIR=str(tmp_path / "dev")),
                                 capture_output=True, text=True, timeout=120)
            assert out.returncode == 0, out.stdout + out.stderr
            kid = next(json.loads(line)["key_id"] for line in out.stdout.splitlines()
                       if json.loads(line)["event"] == "hello")
            line = gw.stdout.readline()
            while line.startswith("checkpoint #"):
                line = gw.stdout.readline()
            assert line.startswith(f"new device {kid} (unix, firmware"), line
        finally:
            gw.send_signal(signal.SIGINT)
            gw.communicate(timeout=30)
    assert gw.returncode == 0


def test_no_mqtt_without_serial_is_a_usage_error(tmp_path):
    out = subprocess.run([DTA, "--data-dir", str(tmp_path), "gateway", "run", "--no-mqtt"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "needs at least one --serial" in out.stderr


def test_gateway_checkpoints_entries_appended_by_another_process(broker, tmp_path):
    from dtacore import entries

    env = dict(os.environ, DTA_DATA_DIR=str(tmp_path), DTA_MQTT_PORT=str(broker.port),
               PYTHONUNBUFFERED="1", DTA_PASSPHRASE="two writers")
    assert subprocess.run([DTA, "authority", "init", "--name", "two"], env=env,
                          capture_output=True).returncode == 0
    gw = subprocess.Popen([DTA, "gateway", "run"], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    try:
        assert "gateway listening" in gw.stdout.readline()
        entry = entries.DeviceEnrolled(bytes.fromhex("02" + "11" * 32), b"esp32-s3", 1).encode()
        added = subprocess.run([DTA, "log", "append", entry.hex()], env=env, capture_output=True,
                               text=True)
        assert added.returncode == 0, added.stderr
        assert gw.stdout.readline().startswith("checkpoint #0: 1 entries, root ")
    finally:
        gw.send_signal(signal.SIGINT)
        rest, _ = gw.communicate(timeout=30)
    assert "checkpoint #1" not in rest  # nothing new: no second, empty checkpoint
