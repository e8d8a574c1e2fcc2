"""The image builder, for every board definition, with a firmware stand-in (not MicroPython:
see tests/fixtures/flash.py) that esptool's image readers accept: the regions sit at the board's
offsets, the LittleFS image mounts with littlefs-python and holds exactly the expected files and
config, esptool's image_info and merge_bin accept the layout, and each mistake is a clear error
that leaves no file behind."""

import contextlib
import dataclasses
import hashlib
import io
import json
import os
import stat

import pytest
from esptool.cmds import image_info, merge_bin

from dta.errors import ConfigError
from dta.firmware import boards
from dta.firmware.bundle import Bundle
from dta.flash import devconfig, esptool_log, filesystems, image, partitions
from dta.flash.errors import CapacityError, FirmwareError
from dtanode import config as device
from tests.fixtures.flash import (
    HARDWARE,
    WIFI_PASSWORD,
    hardware_settings,
    pinned,
    standin_firmware,
)


def quiet_image_info(data) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        image_info(data)
    return out.getvalue()


@pytest.fixture(params=HARDWARE)
def board_name(request):
    return request.param


@dataclasses.dataclass
class Made:
    board: boards.FlashableBoard
    firmware: bytes
    firmware_path: object
    bundle: Bundle
    cfg: devconfig.DeviceConfig


@pytest.fixture
def made(board_name, bundles, tmp_path):
    board = boards.flashable(board_name)
    firmware = standin_firmware(board)
    path = tmp_path / board.firmware.file
    path.write_bytes(firmware)
    return Made(pinned(board, firmware), firmware, path, bundles(board_name),
                devconfig.from_mapping(hardware_settings(), "device.toml"))


def build(made, out, **kw):
    kw.setdefault("secrets", devconfig.Secrets({"wifi_password": WIFI_PASSWORD}))
    return image.build_image(kw.pop("board", made.board), kw.pop("firmware", made.firmware_path),
                             kw.pop("bundle", made.bundle), kw.pop("cfg", made.cfg),
                             kw.pop("secrets"), out)


def test_the_image_holds_firmware_romfs_and_littlefs_at_the_board_offsets(made, tmp_path):
    out = tmp_path / "out.bin"
    built = build(made, out)
    data = out.read_bytes()
    board = made.board
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert built.offset == board.firmware.offset and built.size == len(data)
    assert data[:len(made.firmware)] == made.firmware
    names = [r.name for r in built.regions]
    assert names == (["firmware", "romfs", "filesystem"] if board.romfs else
                     ["firmware", "filesystem"])
    # the filesystem partition, read where MicroPython will mount it
    lfs = image.read_filesystem(board, data)
    bundle_files = {rel: (made.bundle.root / rel).read_bytes() for rel in made.bundle.files}
    rom = image.read_rom(board, data)
    if board.romfs:
        assert set(rom) == {k for k in bundle_files if k.startswith("lib/")}
        assert set(lfs) == {k for k in bundle_files if not k.startswith("lib/")} | {
            "config.json"}
    else:
        assert rom == {} and set(lfs) == set(bundle_files) | {"config.json"}
    for name, content in (lfs | rom).items():
        if name != "config.json":
            assert content == bundle_files[name], name
    config = json.loads(lfs["config.json"])
    assert config == dict(hardware_settings(), wifi_password=WIFI_PASSWORD)
    assert not {"key.bin", "state.bin"} & set(lfs)  # the device makes its own key


def test_the_littlefs_image_has_micropythons_geometry(made, tmp_path):
    data = build(made, tmp_path / "out.bin").path.read_bytes()
    region = image.region(made.board, data, made.board.filesystem)
    fs = filesystems._littlefs(made.board.block_size,
                               made.board.filesystem.size // made.board.block_size,
                               bytearray(region) + b"\xff" * (made.board.filesystem.size
                                                             - len(region)))
    fs.mount()
    stat_ = fs.fs_stat()
    assert stat_.block_size == 4096
    assert stat_.block_count == made.board.filesystem.size // 4096
    assert stat_.disk_version == filesystems.LFS_DISK_VERSION
    fs.unmount()


def test_esptool_reads_the_firmware_part_and_the_merged_layout(made, tmp_path):
    built = build(made, tmp_path / "out.bin")
    data = built.path.read_bytes()
    board = made.board
    info = quiet_image_info(data[:len(made.firmware)])
    assert f"{board.chip_name} Image Header" in info and "(valid)" in info
    app = data[board.app.offset - board.firmware.offset:]
    assert "(valid)" in quiet_image_info(app)
    # esptool's merge of the same parts at the board's offsets is the same file
    parts = [(board.firmware.offset, made.firmware)]
    for r in built.regions[1:]:
        start = r.offset - board.firmware.offset
        parts.append((r.offset, data[start:start + r.size]))
    with esptool_log.captured():
        remerged = merge_bin(parts, board.chip, target_offset=board.firmware.offset)
    assert remerged == data
    # and its image_info on the merged regions accepts the firmware images in it
    assert quiet_image_info([(board.firmware.offset, made.firmware),
                             (board.app.offset, app)]).count("(valid)") >= 2


def test_the_built_image_passes_the_flash_steps_checks(made, tmp_path):
    data = build(made, tmp_path / "out.bin").path.read_bytes()
    assert image.check_image(made.board, data).sha256 == made.board.firmware.sha256
    tampered = bytearray(data)
    tampered[len(made.firmware) - 40] ^= 1  # inside the app image's digest
    with pytest.raises(FirmwareError):
        image.check_image(made.board, bytes(tampered))


def test_an_explicit_vfs_entry_like_micropython_1_25_is_accepted(made, tmp_path):
    firmware = standin_firmware(made.board, vfs_entry=True)
    (tmp_path / "fw125.bin").write_bytes(firmware)
    built = build(made, tmp_path / "out.bin", board=pinned(made.board, firmware),
                  firmware=tmp_path / "fw125.bin")
    assert built.regions[-1].offset == made.board.filesystem.offset


def test_the_shipped_pin_refuses_a_stand_in(made, board_name, tmp_path):
    shipped = boards.flashable(board_name)
    with pytest.raises(FirmwareError, match="pins" if shipped.firmware.sha256 else "pins no"):
        build(made, tmp_path / "out.bin", board=shipped)
    assert not (tmp_path / "out.bin").exists()


def test_a_wrong_firmware_hash_is_refused_and_no_file_is_written(made, tmp_path):
    other = made.firmware[:-1] + bytes([made.firmware[-1] ^ 1])
    (tmp_path / "other.bin").write_bytes(other)
    with pytest.raises(FirmwareError, match="is not the .* that boards/.* pins") as err:
        build(made, tmp_path / "out.bin", firmware=tmp_path / "other.bin")
    assert err.value.expected == made.board.firmware.sha256
    assert list(tmp_path.glob("out.bin*")) == [] and list(tmp_path.glob(".out.bin*")) == []


@pytest.mark.parametrize("change, match", [
    ("chip", "built for another chip"),
    ("table", "MD5 does not match"),
    ("layout", "factory app at"),
    ("trailing", "bytes after its app image"),
])
def test_firmware_that_does_not_fit_the_board_is_refused(made, tmp_path, change, match):
    board = made.board
    if change == "chip":
        other = "esp32c3" if board.chip != "esp32c3" else "esp32"
        firmware = standin_firmware(board, chip=other)
    elif change == "table":
        firmware = bytearray(made.firmware)
        firmware[board.table - board.firmware.offset + 8] ^= 1
        firmware = bytes(firmware)
    elif change == "layout":
        moved = dataclasses.replace(board, app=boards.Region(0x20000, board.app.size - 0x10000))
        firmware = standin_firmware(moved)
    else:
        firmware = made.firmware + b"\x00" * 16
    (tmp_path / "bad.bin").write_bytes(firmware)
    with pytest.raises(FirmwareError, match=match):
        build(made, tmp_path / "out.bin", board=pinned(board, firmware),
              firmware=tmp_path / "bad.bin")
    assert not (tmp_path / "out.bin").exists()


def test_an_oversized_bundle_is_refused(made, tmp_path):
    lib = made.bundle.root / "lib" / "dtacore"
    big = lib / "padding.mpy"
    blob = os.urandom(made.board.filesystem.size if not made.board.romfs
                      else made.board.romfs.size)
    big.write_bytes(blob)
    files = dict(made.bundle.files, **{"lib/dtacore/padding.mpy": hashlib.sha256(blob).hexdigest()})
    try:
        with pytest.raises(CapacityError, match="do(es)? not fit the .*partition"):
            build(made, tmp_path / "out.bin", bundle=dataclasses.replace(made.bundle,
                                                                          files=files))
    finally:
        big.unlink()
    assert not (tmp_path / "out.bin").exists()


def test_a_bundle_carrying_device_files_is_refused(made, tmp_path):
    files = dict(made.bundle.files, **{"key.bin": "00" * 32})
    with pytest.raises(ConfigError, match="key.bin, a file only a device makes"):
        build(made, tmp_path / "out.bin", bundle=dataclasses.replace(made.bundle, files=files))
    changed = dict(made.bundle.files, **{"main.py": "00" * 32})
    with pytest.raises(ConfigError, match="main.py changed since the bundle was built"):
        build(made, tmp_path / "out.bin", bundle=dataclasses.replace(made.bundle, files=changed))
    with pytest.raises(ConfigError, match="bundle is for board"):
        build(made, tmp_path / "out.bin", bundle=dataclasses.replace(made.bundle, board="unix"))


@pytest.mark.parametrize("settings, secrets, match", [
    (hardware_settings(dta_ids=None), {"wifi_password": WIFI_PASSWORD}, "needs dta_ids"),
    (hardware_settings(), {}, "needs wifi_password"),
    (hardware_settings(wifi_ssid=None), {"wifi_password": WIFI_PASSWORD},
     "secrets given for nothing"),
])
def test_missing_config_or_misplaced_secrets_give_no_file(made, tmp_path, settings, secrets,
                                                         match):
    with pytest.raises(ConfigError, match=match) as err:
        build(made, tmp_path / "out.bin", cfg=devconfig.from_mapping(settings),
              secrets=devconfig.Secrets(secrets))
    assert WIFI_PASSWORD not in str(err.value)
    assert not (tmp_path / "out.bin").exists()


def test_a_factory_batch_writes_one_config_per_device_and_a_manifest_without_secrets(
        made, tmp_path):
    batch = image.build_batch(made.board, made.firmware_path, made.bundle, made.cfg,
                              devconfig.Secrets({"wifi_password": WIFI_PASSWORD}),
                              tmp_path / "run-7", count=3, serial_prefix="run7")
    assert [im.serial for im in batch.images] == ["run7-0001", "run7-0002", "run7-0003"]
    manifest_text = batch.manifest.read_text()
    manifest = json.loads(manifest_text)
    assert [d["serial"] for d in manifest["devices"]] == ["run7-0001", "run7-0002", "run7-0003"]
    assert manifest["firmware"]["sha256"] == made.board.firmware.sha256
    assert WIFI_PASSWORD not in manifest_text
    images = [im.path.read_bytes() for im in batch.images]
    for im, data in zip(batch.images, images, strict=True):
        assert stat.S_IMODE(os.stat(im.path).st_mode) == 0o600
        config = device.parse_json(image.read_filesystem(made.board, data)["config.json"],
                                   device.MAX_CONFIG_BYTES, device.MAX_CONFIG_DEPTH, "c")
        assert config["serial"] == im.serial and config["wifi_password"] == WIFI_PASSWORD
        assert data[:len(made.firmware)] == made.firmware
    assert sorted(p.name for p in batch.directory.iterdir()) == [
        "manifest.json", "run7-0001.bin", "run7-0002.bin", "run7-0003.bin"]


@pytest.mark.parametrize("kw, match", [
    ({"count": 0, "serial_prefix": "run"}, "1..1000"),
    ({"count": 1001, "serial_prefix": "run"}, "1..1000"),
    ({"count": 2, "serial_prefix": "run/7"}, "serial prefix"),
    ({"count": 2, "serial_prefix": "x" * 40}, "serial prefix"),
])
def test_a_bad_batch_writes_nothing(made, tmp_path, kw, match):
    with pytest.raises(ConfigError, match=match):
        image.build_batch(made.board, made.firmware_path, made.bundle, made.cfg,
                          devconfig.Secrets({"wifi_password": WIFI_PASSWORD}),
                          tmp_path / "run", **kw)
    assert list(tmp_path.iterdir()) == [made.firmware_path]


def test_a_batch_that_fails_midway_leaves_no_directory(made, tmp_path):
    # a serial in device.toml cannot serve N devices
    cfg = devconfig.from_mapping(hardware_settings(serial="one-device"))
    with pytest.raises(ConfigError, match="serial is set per device"):
        image.build_batch(made.board, made.firmware_path, made.bundle, cfg,
                          devconfig.Secrets({"wifi_password": WIFI_PASSWORD}),
                          tmp_path / "run", count=2, serial_prefix="run")
    (tmp_path / "taken").mkdir()
    with pytest.raises(ConfigError, match="exists"):
        image.build_batch(made.board, made.firmware_path, made.bundle, made.cfg,
                          devconfig.Secrets({"wifi_password": WIFI_PASSWORD}),
                          tmp_path / "taken", count=1, serial_prefix="run")
    assert sorted(p.name for p in tmp_path.iterdir()) == [made.firmware_path.name, "taken"]


def test_the_partition_table_codec_round_trips_and_is_strict():
    parts = [partitions.Partition("nvs", 1, 2, 0x9000, 0x6000),
             partitions.Partition("factory", 0, 0, 0x10000, 0x1F0000)]
    table = partitions.encode(parts)
    assert partitions.decode(table) == tuple(parts)
    with pytest.raises(FirmwareError, match="no MD5 entry|no magic"):
        partitions.decode(b"\xff" * partitions.TABLE_LEN)
    overlapping = parts + [partitions.Partition("vfs", 1, 0x81, 0x100000, 0x100000)]
    with pytest.raises(FirmwareError, match="overlap"):
        partitions.decode(partitions.encode(overlapping))
    junk = bytearray(table)
    junk[-1] = 0
    with pytest.raises(FirmwareError, match="after its MD5"):
        partitions.decode(bytes(junk))
    assert partitions.filesystem(tuple(parts), 4 << 20) == (0x200000, 0x200000)


def test_the_romfs_reader_is_strict():
    rom = filesystems.romfs_image({"lib/a/b.mpy": b"x" * 300, "lib/c.mpy": b""})
    assert filesystems.read_romfs(rom + b"\xff" * 64) == {"lib/a/b.mpy": b"x" * 300,
                                                          "lib/c.mpy": b""}
    with pytest.raises(FirmwareError, match="not a ROMFS image"):
        filesystems.read_romfs(b"\xff" * 64)
    with pytest.raises(FirmwareError, match="cut short|runs past"):
        filesystems.read_romfs(rom[:len(rom) // 2])
