"""`dta devices image | provision` and `enroll --from-port` through the CLI: an image for a
firmware that is not the pinned one, or a config with a secret in it, is refused with its exit
code and leaves no file; a running emulated board (socat PTY, real firmware on the VM) is
provisioned and enrolled by the key id it reports on its console. The erase-and-write step
(`dta devices flash`) needs a real board (docs/flashing.md)."""

import json

from click.testing import CliRunner

from dta import exitcodes
from dta.authority import identity
from dta.cli import main
from dta.config import Config, MqttConfig
from dta.emulator import EmulatedDevice
from dta.firmware import boards
from dta.flash import console
from dta.gateway.registry import Registry
from dta.log.store import LogStore
from tests.fixtures.flash import SerialBoard, hardware_settings, standin_firmware, toml_text
from tests.fixtures.fleet import GatewayUnderTest

TIMEOUT = 60


def dta(tmp_path, *args):
    return CliRunner().invoke(main, ["--data-dir", str(tmp_path / "dta"), *args],
                              env={"DTA_CONFIG": ""})


def test_image_refuses_a_firmware_that_is_not_the_pinned_one(tmp_path):
    board = boards.flashable("esp32-devkitc")
    (tmp_path / "fw.bin").write_bytes(standin_firmware(board))
    (tmp_path / "device.toml").write_text(toml_text(hardware_settings()))
    (tmp_path / "secrets.toml").write_text('wifi_password = "correct horse"\n')
    (tmp_path / "secrets.toml").chmod(0o600)
    res = dta(tmp_path, "devices", "image", "--board", "esp32-devkitc", "--firmware",
              str(tmp_path / "fw.bin"), "--config", str(tmp_path / "device.toml"),
              "--secrets", str(tmp_path / "secrets.toml"), "-o", str(tmp_path / "out.bin"))
    assert res.exit_code == exitcodes.VERIFY_FAILED, res.output
    assert "sha-256" in res.output.lower() and not (tmp_path / "out.bin").exists()


def test_image_refuses_a_secret_inside_the_device_config(tmp_path):
    (tmp_path / "fw.bin").write_bytes(b"\x00" * 64)
    (tmp_path / "device.toml").write_text(toml_text(hardware_settings(wifi_password="p")))
    res = dta(tmp_path, "devices", "image", "--board", "esp32-devkitc", "--firmware",
              str(tmp_path / "fw.bin"), "--config", str(tmp_path / "device.toml"), "-o",
              str(tmp_path / "out.bin"))
    assert res.exit_code == exitcodes.CONFIG, res.output
    assert "wifi_password" in res.output and "error:" in res.output
    assert not (tmp_path / "out.bin").exists()


def test_provision_then_enroll_from_port(unix_bundle, broker, tmp_path):
    data_dir = tmp_path / "dta"
    identity.initialise(data_dir, "flash cli", name="flash-cli", network="regtest", log2_n=10)
    cfg = Config(data_dir=data_dir, mqtt=MqttConfig(host=broker.host, port=broker.port,
                                                    topic_prefix="flashcli/v1",
                                                    client_id="dta-gateway-flashcli"))
    gw = GatewayUnderTest(cfg)
    gw.gw.start()
    dev = EmulatedDevice(tmp_path / "flash")
    dev.flash(unix_bundle)
    dev.configure(mqtt_host=broker.host, mqtt_port=broker.port, topic_prefix="other/v1",
                  once=False)
    try:
        with SerialBoard(dev.root, tmp_path / "pty") as board:
            console.wait_for_hello(str(board.port), timeout=TIMEOUT)  # its first boot
            (tmp_path / "device.toml").write_text(toml_text(
                {"mqtt_host": broker.host, "mqtt_port": broker.port,
                 "topic_prefix": "flashcli/v1"}))
            res = dta(tmp_path, "devices", "provision", "--port", str(board.port), "--config",
                      str(tmp_path / "device.toml"), "--json")
            assert res.exit_code == 0, res.output
            done = json.loads(res.stdout)
            assert gw.events.wait_for(lambda evs: any(e.kind == "registered" for e in evs),
                                      TIMEOUT)
            # the next boot's console report names the key: enrol it from there
            board.reset()
            res = dta(tmp_path, "devices", "enroll", "--from-port", str(board.port), "--json")
            assert res.exit_code == 0, res.output
            assert json.loads(res.stdout)["key_id"] == done["key_id"]
    finally:
        gw.gw.stop()
        gw.registry.close()
    reg = Registry(cfg.registry_db)
    assert reg.get(done["key_id"]).state == "enrolled"
    with LogStore.open(cfg) as log:
        assert log.size == 1  # the enrolment, written when the operator approved it
