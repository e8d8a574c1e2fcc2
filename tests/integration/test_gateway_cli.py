"""`dta gateway run` and `dta devices ...` as separate processes, as an operator runs them: an
authenticated broker, pending devices enrolled and revoked by command (each logged), timestamped
log lines on one stream, one gateway per data directory and per broker session."""

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import paho.mqtt.client as mqtt

from dta.services.mosquitto import free_port
from tests.fixtures.fleet import Lines, signed_hello

DTA = str(Path(sys.executable).parent / "dta")
# <ISO time>Z LEVEL source: message
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (INFO|WARNING|ERROR|CRITICAL) +"
                      r"[a-z.]+: ")


def _data_dir(root: Path, name: str, toml: str = "", passphrase: str = "gateway test") -> dict:
    d = root / name
    d.mkdir(parents=True)
    (d / "dta.toml").write_text(toml)
    env = dict(os.environ, DTA_DATA_DIR=str(d), DTA_CONFIG="", PYTHONUNBUFFERED="1",
               DTA_PASSPHRASE=passphrase)
    init = subprocess.run([DTA, "authority", "init", "--name", name], env=env,
                          capture_output=True, text=True)
    assert init.returncode == 0, init.stderr
    return env


def _dta(env, *args, ok=True, **kw):
    out = subprocess.run([DTA, *args], env=env, capture_output=True, text=True, timeout=120, **kw)
    if ok:
        assert out.returncode == 0, out.stdout + out.stderr
    return out


class Gw:
    """A `dta gateway run` process; its log lines (stderr) through `lines`."""

    def __init__(self, env, *args):
        self.proc = subprocess.Popen([DTA, *args, "gateway", "run"], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = Lines(self.proc.stderr)
        self.lines.until(lambda line: "gateway running" in line)

    def stop(self) -> list[str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        rest = self.lines.rest()
        self.proc.wait(30)
        return rest


def _emulate(env, device: Path, ok=True):
    out = _dta(env, "devices", "emulate", str(device), "--once", "--json", ok=ok)
    return out, [json.loads(line) for line in out.stdout.splitlines()]


def test_pending_device_is_enrolled_and_revoked_by_command_each_logged(auth_broker, tmp_path):
    port = free_port()
    metrics = f"[metrics]\ngateway_port = {port}\n"
    env = _data_dir(tmp_path, "gw", auth_broker.config_toml() + metrics)
    gw = Gw(env)
    try:
        banner = gw.lines.seen[0]
        assert LOG_LINE.match(banner) and "starting on mqtt://" in banner, banner
        dev = tmp_path / "dev" / "d1"
        out, events = _emulate(env, dev)
        ident = next(e for e in events if e["event"] == "identity")
        assert ident["created"] is True and ident["boot"] == 1  # typed values
        kid = ident["key_id"]
        line = gw.lines.until(lambda line: kid in line)
        assert LOG_LINE.match(line) and "pending approval (boot #1)" in line, line
        _emulate(env, dev)
        assert "back online (boot #2, pending)" in gw.lines.until(lambda line: kid in line)
        # nothing is logged for a pending device
        assert json.loads(_dta(env, "log", "show", "--json").stdout)["tree_size"] == 0

        enrolled = _dta(env, "devices", "enroll", kid[:6])
        assert f"device {kid} enrolled: log entry #0" in enrolled.stdout
        assert "checkpoint #0 closed: 1 entries" in gw.lines.until(
            lambda line: "checkpoint" in line)
        shown = json.loads(_dta(env, "log", "show", "0", "--json").stdout)
        assert shown["entry"]["type"] == "DeviceEnrolled" and shown["entry"]["key_id"] == kid
        assert shown["entry"]["board"] == "unix"  # a name, not hex
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
        assert 'dta_devices{state="enrolled"} 1.0' in metrics and "dta_log_tree_size 1.0" in metrics

        _dta(env, "devices", "revoke", kid, "--reason", "compromised")
        _emulate(env, dev)
        refused = gw.lines.until(lambda line: kid in line)
        assert refused.split(" ")[1] == "WARNING" and "revoked" in refused, refused
    finally:
        rest = gw.stop()
    assert gw.proc.returncode == 0 and "gateway stopped" in rest[-1]
    listed = json.loads(_dta(env, "devices", "list", "--json").stdout)
    (device,) = listed["devices"]
    assert (device["state"], device["boot"], device["enrolled_entry"], device["revoked_entry"]) \
        == ("revoked", 2, 0, 1)
    assert listed["rejections"] == {"revoked": 1}
    human = _dta(env, "devices", "list").stdout.splitlines()
    assert human[1].split() == ["KEY", "ID", "STATE", "BOARD", "FIRMWARE", "BOOT", "LAST", "SEEN"]
    assert human[2].startswith(f"{kid}  revoked")
    text = _dta(env, "log", "show", "--from", "0").stdout.splitlines()
    assert [t.split()[2] for t in text] == ["DeviceEnrolled", "DeviceRevoked"]
    assert "revoked (compromised)" in text[1]


def test_the_broker_refuses_a_device_without_the_devices_account(auth_broker, tmp_path):
    # the same broker, with the gateway's account only: the device connects anonymously
    toml = auth_broker.config_toml().split("device_username")[0]
    env = _data_dir(tmp_path, "anon", toml)
    out, events = _emulate(env, tmp_path / "dev" / "anon", ok=False)
    # (the firmware does not catch umqtt's MQTTException yet: the VM exits 1, dta says 21)
    assert out.returncode != 0 and not any(e["event"] == "hello" for e in events)


def test_a_second_gateway_on_the_same_data_dir_is_refused(broker, tmp_path):
    env = _data_dir(tmp_path, "one", f"[mqtt]\nport = {broker.port}\n")
    gw = Gw(env)
    try:
        second = _dta(env, "gateway", "run", ok=False)
        assert second.returncode == 9, second.stderr
        assert re.search(r"^error: another `dta gateway` \(pid \d+\) is already running on ",
                         second.stderr), second.stderr
    finally:
        gw.stop()


def test_a_gateway_that_loses_its_session_says_so_and_exits(broker, tmp_path):
    # Two D-TAs configured with one client id (a copy-pasted config): the second takes the
    # broker session, and the first stops instead of splitting the fleet with it.
    toml = f'[mqtt]\nport = {broker.port}\nclient_id = "copied-config"\n'
    first = Gw(_data_dir(tmp_path, "first", toml))
    second = Gw(_data_dir(tmp_path, "second", toml))
    try:
        rest = first.lines.rest(timeout=60)
        assert first.proc.wait(30) == 10, rest
        lost = next(line for line in rest if "took its session" in line)
        assert " CRITICAL " in lost and "client id copied-config" in lost
        assert second.proc.poll() is None  # the newer one carries on
    finally:
        first.stop()
        assert second.stop()[-1].endswith("gateway stopped")
    assert second.proc.returncode == 0


def test_attacker_chosen_topics_are_cut_and_escaped_in_json_log_lines(broker, tmp_path):
    env = _data_dir(tmp_path, "esc", f"[mqtt]\nport = {broker.port}\n")
    gw = Gw(env, "--log-format", "json")
    try:
        _, frame = signed_hello()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="attacker")
        client.connect(broker.host, broker.port)
        client.loop_start()
        for topic in ("dta/v1/hello/" + "x" * 5000, "dta/v1/hello/\u202egnp.exe"):
            client.publish(topic, frame, qos=1).wait_for_publish(10)
        client.disconnect()
        client.loop_stop()
        lines = [gw.lines.until(lambda line: "topic-mismatch" in line) for _ in range(2)]
    finally:
        gw.stop()
    for line in lines:
        assert len(line) < 1200 and "\u202e" not in line
        record = json.loads(line)
        assert record["level"] == "warning" and record["source"] == "gateway"
        assert record["reason"] == "topic-mismatch" and record["time"].endswith("Z")
    assert "...(+4960 chars)" in json.loads(lines[0])["message"]
    assert "\\u202egnp.exe" in json.loads(lines[1])["key_id"]


def test_gateway_refuses_to_run_without_an_authority(broker, tmp_path):
    env = dict(os.environ, DTA_DATA_DIR=str(tmp_path / "none"), DTA_MQTT_PORT=str(broker.port),
               DTA_CONFIG="")
    out = _dta(env, "gateway", "run", ok=False)
    assert out.returncode == 8 and "dta authority init" in out.stderr
    assert not (tmp_path / "none").exists()


def test_gateway_process_reads_a_device_on_a_serial_cable(tmp_path):
    from dta.services.serial_pty import PtyPair

    env = _data_dir(tmp_path, "serial")
    with PtyPair(tmp_path / "pty") as cable:
        gw = subprocess.Popen([DTA, "gateway", "run", "--no-mqtt", "--serial",
                               str(cable.gateway_end)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
        lines = Lines(gw.stderr)
        try:
            assert f"serial {cable.gateway_end} at 115200 baud" in lines.until(
                lambda line: "starting on" in line)
            out = _dta(dict(env, DTA_DATA_DIR=str(tmp_path / "dev")), "devices", "emulate",
                       str(tmp_path / "dev" / "s1"), "--once", "--json", "--serial",
                       str(cable.device_end))
            kid = next(json.loads(line)["key_id"] for line in out.stdout.splitlines()
                       if json.loads(line)["event"] == "hello")
            line = lines.until(lambda line: kid in line)
            assert f"new device {kid} (unix, firmware" in line and "on serial " in line
        finally:
            gw.send_signal(signal.SIGINT)
            gw.wait(30)
    assert gw.returncode == 0


def test_no_mqtt_without_serial_is_a_usage_error(tmp_path):
    out = subprocess.run([DTA, "--data-dir", str(tmp_path), "gateway", "run", "--no-mqtt"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "error: nothing to listen on" in out.stderr


def test_gateway_checkpoints_entries_appended_by_another_process(broker, tmp_path):
    from dtacore import entries

    env = _data_dir(tmp_path, "two", f"[mqtt]\nport = {broker.port}\n")
    gw = Gw(env)
    try:
        entry = entries.DeviceEnrolled(bytes.fromhex("02" + "11" * 32), b"esp32-s3", 1).encode()
        _dta(env, "log", "append", entry.hex())
        assert "checkpoint #0 closed: 1 entries, root " in gw.lines.until(
            lambda line: "checkpoint" in line)
    finally:
        rest = gw.stop()
    assert not any("checkpoint #1" in line for line in rest)  # no second, empty checkpoint
