"""Built images on the real MicroPython VM: the LittleFS partition mounts with MicroPython's own
VfsLfs2 (its littlefs, its defaults, 4096-byte blocks), the ROMFS partition with VfsRom, the
firmware imports from the image itself and accepts the config on it. And the device's config
loader refuses malformed files with a ConfigError on the VM's 64 KiB heap (no MemoryError or
RecursionError leaks). The firmware is a stand-in (tests/fixtures/flash.py): the VM runs the
bundle, not the ESP32 firmware."""

import json
from pathlib import Path

import pytest

from dta.firmware import boards
from dta.flash import devconfig, image
from dta.services import micropython
from dta.services.paths import FIRMWARE_DIR
from tests.fixtures.flash import (
    HARDWARE,
    WIFI_PASSWORD,
    hardware_settings,
    pinned,
    standin_firmware,
)

HERE = Path(__file__).parent
# The mount check holds the ROMFS image in RAM, as a board maps it from flash: a host-sized heap.
MOUNT_HEAP = "2m"


@pytest.mark.parametrize("name", HARDWARE)
def test_micropython_mounts_the_image_and_boots_its_config_loader(name, bundles, tmp_path):
    board = boards.flashable(name)
    firmware = standin_firmware(board)
    (tmp_path / "fw.bin").write_bytes(firmware)
    board = pinned(board, firmware)
    cfg = devconfig.from_mapping(hardware_settings(), "device.toml")
    built = image.build_image(board, tmp_path / "fw.bin", bundles(name), cfg,
                              devconfig.Secrets({"wifi_password": WIFI_PASSWORD}),
                              tmp_path / "out.bin")
    data = built.path.read_bytes()
    regions = {r.name: r for r in built.regions}
    fs = regions["filesystem"]
    lfs = tmp_path / "lfs.bin"
    lfs.write_bytes(data[fs.offset - built.offset:fs.offset - built.offset + fs.size])
    args = [str(lfs), str(board.filesystem.size // 4096)]
    if "romfs" in regions:
        rom = regions["romfs"]
        (tmp_path / "rom.bin").write_bytes(
            data[rom.offset - built.offset:rom.offset - built.offset + rom.size])
        args.append(str(tmp_path / "rom.bin"))
    out = micropython.run(HERE / "vm/image_mount.py", *args, path=(), heapsize=MOUNT_HEAP)
    text = out.stdout.decode()
    assert out.returncode == 0, text
    files = {line.split()[1]: int(line.split()[2]) for line in text.splitlines()
             if line.startswith("file ")}
    expected = {p: len(c) for p, c in image.read_filesystem(board, data).items()}
    expected |= {"rom:" + p: len(c) for p, c in image.read_rom(board, data).items()}
    assert files == expected
    where = "/rom/lib" if board.romfs else "/flash/lib"
    assert f"loaded {where}/dtanode/config.mpy {name} mainnet 2 factory-floor" in text


BAD_CONFIGS = {
    "bare-number": b"1883",
    "bare-string": b'"dta"',
    "bool-port": b'{"mqtt_port": true}',
    "deep-list": b"[" * 2000 + b"]" * 2000,
    "deep-in-ids": b'{"dta_ids": [' + b"[" * 500 + b"]" * 500 + b"]}",
    "not-json": b'{"mqtt_port": 18',
    "not-utf8": b'{"wifi_ssid": "\xff\xfe"}',
    "too-big": b'{"mqtt_host": "' + b"a" * 5000 + b'"}',
}


def test_the_device_loader_refuses_malformed_configs_on_the_vm(tmp_path):
    for name, raw in BAD_CONFIGS.items():
        (tmp_path / f"{name}.json").write_bytes(raw)
    code = (
        "import sys\nfrom dtanode import config\nfor name in %r:\n"
        " try:\n  config.load_config(%r + '/' + name + '.json')\n  print(name, 'ACCEPTED')\n"
        " except config.ConfigError as e:\n  print(name, 'refused', e)\n"
        % (sorted(BAD_CONFIGS), str(tmp_path)))
    out = micropython.run_code(code, path=(FIRMWARE_DIR,))
    lines = out.stdout.decode().splitlines()
    assert out.returncode == 0, out.stdout.decode() + out.stderr.decode()
    assert [ln.split()[:2] for ln in lines] == [[n, "refused"] for n in sorted(BAD_CONFIGS)]
    assert "mqtt_port must be an integer" in next(ln for ln in lines if ln.startswith("bool"))


def test_the_device_accepts_what_the_host_writes(tmp_path):
    raw = devconfig.render(devconfig.from_mapping(hardware_settings()),
                           devconfig.Secrets({"wifi_password": WIFI_PASSWORD}),
                           boards.load("esp32-devkitc"))
    (tmp_path / "config.json").write_bytes(raw)
    out = micropython.run_code(
        "from dtanode import config\nimport json\nc = config.load_config(%r)\n"
        "print(json.dumps(sorted(c)))" % str(tmp_path / "config.json"), path=(FIRMWARE_DIR,))
    assert out.returncode == 0, out.stdout.decode() + out.stderr.decode()
    keys = json.loads(out.stdout.decode().splitlines()[-1])
    assert set(json.loads(raw)) <= set(keys) and "keepalive" in keys
