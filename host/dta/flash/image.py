"""Flashable images: one file per device that esptool writes at the firmware's offset.

Layout (offsets are flash addresses; the image file starts at the firmware offset):

    firmware.offset   the MicroPython firmware file, unchanged: bootloader, partition table at
                      partitions.table, factory app at partitions.app
    romfs.offset      (boards with a ROMFS partition) a ROMFS image with lib/ (the .mpy files)
    filesystem.offset a LittleFS image of the whole filesystem partition: main.py, board.json,
                      config.json and, without ROMFS, lib/

Gaps are 0xFF (erased flash) and the LittleFS image's trailing erased blocks are left out: the
flash step erases the chip first. The firmware must be the file the board definition pins
(SHA-256, recomputed and compared), an image for the board's chip (esptool's own image reader),
with a partition table that agrees with the board definition. Nothing secret is made here: the
device makes its key on first boot; config.json (the Wi-Fi and MQTT passwords) is the only
secret an image holds, so images are written 0600, atomically, and no hash of one is recorded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

from esptool.bin_image import LoadFirmwareImage
from esptool.cmds import merge_bin
from esptool.targets import CHIP_DEFS
from esptool.util import FatalError

from dta.errors import ConfigError, ProtocolError
from dta.firmware.boards import FlashableBoard, Region
from dta.firmware.bundle import Bundle
from dta.flash import devconfig, esptool_log, filesystems, partitions
from dta.flash.errors import CapacityError, FirmwareError
from dtanode import config_schema

CONFIG_FILE = "config.json"
# Files the device makes (its key, its boot counter, its config): a bundle carrying one was
# copied off a device or an emulator's flash directory, and is refused.
DEVICE_FILES = ("config.json", "key.bin", "state.bin")
ROMFS_DIR = "lib/"  # what goes into ROMFS on a board that has it (mounted as /rom/lib)
# A factory run of more than 1000 devices is several runs (disk: up to 8 MiB per image).
MAX_BATCH = 1000
SHA256_LEN = 32  # the digest esptool appends to an app image


@dataclass(frozen=True)
class FirmwareLayout:
    """What the firmware file says about the flash, checked against the board definition."""
    length: int
    sha256: str
    partitions: tuple[partitions.Partition, ...]


@dataclass(frozen=True)
class ImageRegion:
    name: str            # firmware, romfs or filesystem
    offset: int          # flash address
    size: int            # bytes the image holds for it
    partition_size: int  # bytes the partition has (the firmware's: up to the app's end)


@dataclass(frozen=True)
class FlashImage:
    path: Path
    board: str
    offset: int                       # where the file is written
    size: int
    regions: tuple[ImageRegion, ...]
    littlefs_files: tuple[str, ...]
    romfs_files: tuple[str, ...]
    serial: str | None


@dataclass(frozen=True)
class Batch:
    directory: Path
    manifest: Path
    images: tuple[FlashImage, ...]


def _load_image(chip: str, data: bytes, what: str):
    try:
        image = LoadFirmwareImage(chip, data)
    except (FatalError, struct.error, ValueError, IndexError, KeyError) as exc:
        raise FirmwareError(f"{what} is not an ESP image esptool can read: {exc}") from None
    want = CHIP_DEFS[chip].IMAGE_CHIP_ID
    if image.chip_id != want:
        raise FirmwareError(f"{what} is built for another chip (image chip id {image.chip_id}, "
                            f"{chip} is {want})", expected=want, got=image.chip_id)
    return image


def _check_partitions(board: FlashableBoard, parts, where: str) -> None:
    app = partitions.factory_app(parts)
    if (app.offset, app.size) != (board.app.offset, board.app.size):
        raise FirmwareError(f"{where}: factory app at {app.offset:#x}+{app.size:#x}, the board "
                            f"definition says {board.app.offset:#x}+{board.app.size:#x}")
    fs = partitions.filesystem(parts, board.flash_size)
    if fs != (board.filesystem.offset, board.filesystem.size):
        raise FirmwareError(f"{where}: MicroPython would mount its filesystem at "
                            f"{fs[0]:#x}+{fs[1]:#x}, the board definition says "
                            f"{board.filesystem.offset:#x}+{board.filesystem.size:#x}")
    romfs = partitions.find(parts, "romfs")
    have = (romfs.offset, romfs.size) if romfs else None
    want = (board.romfs.offset, board.romfs.size) if board.romfs else None
    if have != want:
        raise FirmwareError(f"{where}: ROMFS partition {have and tuple(map(hex, have))}, the "
                            f"board definition says {want and tuple(map(hex, want))}")


def layout(board: FlashableBoard, data: bytes) -> FirmwareLayout:
    """Parse the firmware at the start of `data` (a firmware file or an image) with esptool's
    readers; its length is recomputed from the app image's header."""
    base = board.firmware.offset
    where = f"firmware for {board.name}"
    _load_image(board.chip, data, f"{where}: bootloader")
    table = data[board.table - base:board.table - base + partitions.TABLE_LEN]
    parts = partitions.decode(table)
    _check_partitions(board, parts, where)
    app = _load_image(board.chip, data[board.app.offset - base:], f"{where}: app")
    app_len = app.data_length + (SHA256_LEN if app.append_digest else 0)
    if app.append_digest and app.stored_digest != app.calc_digest:
        raise FirmwareError(f"{where}: app image digest does not match its contents",
                            expected=app.calc_digest.hex(), got=app.stored_digest.hex())
    if app_len > board.app.size:
        raise CapacityError(f"{where}: app image of {app_len} bytes overflows its "
                            f"{board.app.size}-byte partition")
    length = board.app.offset - base + app_len
    return FirmwareLayout(length, hashlib.sha256(data[:length]).hexdigest(), parts)


def _check_pin(board: FlashableBoard, digest: str) -> None:
    pin = board.firmware.sha256
    if pin is None:
        raise FirmwareError(f"boards/{board.name}.json pins no firmware SHA-256: put the "
                            f"sha256sum of your {board.firmware.file} in firmware.sha256")
    if digest != pin:
        raise FirmwareError(f"firmware SHA-256 {digest} is not the {board.firmware.file} that "
                            f"boards/{board.name}.json pins ({pin})", expected=pin, got=digest)


def check_firmware(board: FlashableBoard, firmware: bytes) -> FirmwareLayout:
    """The MicroPython file the operator downloaded: pinned, for this chip, this layout."""
    _check_pin(board, hashlib.sha256(firmware).hexdigest())
    fw = layout(board, firmware)
    if fw.length != len(firmware):
        raise FirmwareError(f"firmware file has {len(firmware) - fw.length} bytes after its "
                            "app image")
    return fw


def check_image(board: FlashableBoard, image: bytes) -> FirmwareLayout:
    """A built image (before flashing): its firmware part is the pinned file, and its
    filesystem holds a config.json."""
    fw = layout(board, image)
    _check_pin(board, fw.sha256)
    lfs = read_filesystem(board, image)
    if CONFIG_FILE not in lfs:
        raise FirmwareError(f"image for {board.name} has no {CONFIG_FILE} on its filesystem")
    return fw


def region(board: FlashableBoard, image: bytes, part: Region) -> bytes:
    start = part.offset - board.firmware.offset
    return image[start:start + part.size]


def read_filesystem(board: FlashableBoard, image: bytes) -> dict[str, bytes]:
    return filesystems.read_littlefs(region(board, image, board.filesystem),
                                     size=board.filesystem.size, block_size=board.block_size)


def read_rom(board: FlashableBoard, image: bytes) -> dict[str, bytes]:
    if board.romfs is None:
        return {}
    return filesystems.read_romfs(region(board, image, board.romfs))


def _bundle_files(board: FlashableBoard, bundle: Bundle) -> dict[str, bytes]:
    if bundle.board != board.name:
        raise ConfigError(f"bundle is for board {bundle.board!r}, not {board.name!r}")
    files = {}
    for rel, digest in bundle.files.items():
        if rel.rpartition("/")[2] in DEVICE_FILES or rel.endswith(".tmp"):
            raise ConfigError(f"bundle {bundle.root} carries {rel}, a file only a device makes:"
                              " rebuild the bundle (dta firmware bundle)")
        data = (Path(bundle.root) / rel).read_bytes()
        if hashlib.sha256(data).hexdigest() != digest:
            raise ConfigError(f"bundle {bundle.root}: {rel} changed since the bundle was built")
        files[rel] = data
    return files


def split_files(board: FlashableBoard, bundle_files: dict[str, bytes], config_json: bytes):
    """-> (LittleFS files, ROMFS files): lib/ goes into ROMFS when the board has one."""
    rom = {k: v for k, v in bundle_files.items() if board.romfs and k.startswith(ROMFS_DIR)}
    lfs = {k: v for k, v in bundle_files.items() if k not in rom}
    lfs[CONFIG_FILE] = config_json
    return lfs, rom


def _trim(data: bytes, block: int) -> bytes:
    used = len(data.rstrip(b"\xff"))
    return data[:-(-used // block) * block]


def assemble(board: FlashableBoard, firmware: bytes, lfs: dict, rom: dict):
    """-> (image bytes, regions): the firmware, the ROMFS and LittleFS images, merged."""
    fw_len = len(firmware)
    regions = [ImageRegion("firmware", board.firmware.offset, fw_len,
                           board.app.end - board.firmware.offset)]
    parts = [(board.firmware.offset, firmware)]
    if board.romfs:
        romfs = filesystems.romfs_image(rom)
        if len(romfs) > board.romfs.size:
            raise CapacityError(f"ROMFS image of {len(romfs)} bytes ({len(rom)} files) does not "
                                f"fit the {board.romfs.size}-byte romfs partition")
        parts.append((board.romfs.offset, romfs))
        regions.append(ImageRegion("romfs", board.romfs.offset, len(romfs), board.romfs.size))
    lfs_image = _trim(filesystems.littlefs_image(lfs, size=board.filesystem.size,
                                                 block_size=board.block_size), board.block_size)
    parts.append((board.filesystem.offset, lfs_image))
    regions.append(ImageRegion("filesystem", board.filesystem.offset, len(lfs_image),
                               board.filesystem.size))
    with esptool_log.captured():
        merged = merge_bin(parts, board.chip, target_offset=board.firmware.offset)
    return merged, tuple(regions)


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically (temporary file, fsync, rename), mode 0600."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _one(board, firmware, files, cfg, secrets, path, serial) -> FlashImage:
    config_json = devconfig.render(cfg, secrets, board.definition, serial=serial)
    lfs, rom = split_files(board, files, config_json)
    data, regions = assemble(board, firmware, lfs, rom)
    write_private(path, data)
    return FlashImage(Path(path), board.name, board.firmware.offset, len(data), regions,
                      tuple(sorted(lfs)), tuple(sorted(rom)), serial or cfg.get("serial"))


def _read_firmware(board: FlashableBoard, firmware_path) -> bytes:
    try:
        firmware = Path(firmware_path).read_bytes()
    except OSError as exc:
        raise FirmwareError(f"{firmware_path}: cannot read: {exc.strerror}") from None
    check_firmware(board, firmware)
    return firmware


def build_image(board: FlashableBoard, firmware_path, bundle: Bundle,
                cfg: devconfig.DeviceConfig, secrets: devconfig.Secrets, out) -> FlashImage:
    """`dta devices image`: one flashable image at `out` (replaced atomically; on any error
    nothing is written)."""
    firmware = _read_firmware(board, firmware_path)
    return _one(board, firmware, _bundle_files(board, bundle), cfg, secrets, Path(out), None)


def _serials(prefix: str, count: int) -> list[str]:
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_BATCH:
        raise ConfigError(f"a batch is 1..{MAX_BATCH} devices, not {count!r}")
    serials = [f"{prefix}-{i:04d}" for i in range(1, count + 1)]
    try:
        config_schema.check_value("serial", serials[-1])
    except ProtocolError as exc:
        raise ConfigError(f"serial prefix {prefix!r}: {exc}") from None
    return serials


def _manifest(board, firmware, bundle, images) -> dict:
    return {
        "board": board.name,
        "firmware": {"file": board.firmware.file, "sha256": hashlib.sha256(firmware).hexdigest(),
                     "offset": hex(board.firmware.offset)},
        "bundle": {"files": len(bundle.files), "sha256": hashlib.sha256(
            json.dumps(bundle.files, sort_keys=True).encode()).hexdigest()},
        "regions": [{"name": r.name, "offset": hex(r.offset), "partition_size": r.partition_size}
                    for r in images[0].regions],
        "devices": [{"serial": im.serial, "image": im.path.name, "bytes": im.size}
                    for im in images],
        "secrets": "the images hold each device's config.json with the Wi-Fi and MQTT "
                   "passwords; this manifest holds no secret and no digest of an image",
    }


def build_batch(board: FlashableBoard, firmware_path, bundle: Bundle,
                cfg: devconfig.DeviceConfig, secrets: devconfig.Secrets, out_dir, *,
                count: int, serial_prefix: str) -> Batch:
    """`dta devices image --batch N`: N images in `out_dir` (which must not exist), each with
    its own config.json (serial <prefix>-0001...), and manifest.json. All or nothing."""
    out_dir = Path(out_dir)
    serials = _serials(serial_prefix, count)
    if out_dir.exists():
        raise ConfigError(f"{out_dir} exists: a batch goes into a new directory")
    if cfg.get("serial") is not None:
        raise ConfigError(f"{cfg.source}: serial is set per device; remove it for a batch")
    firmware = _read_firmware(board, firmware_path)
    files = _bundle_files(board, bundle)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.", suffix=".tmp"))
    try:
        images = [_one(board, firmware, files, cfg, secrets, tmp / f"{s}.bin", s)
                  for s in serials]
        manifest = json.dumps(_manifest(board, firmware, bundle, images), indent=2) + "\n"
        (tmp / "manifest.json").write_text(manifest)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    moved = tuple(dataclasses.replace(im, path=out_dir / im.path.name) for im in images)
    return Batch(out_dir, out_dir / "manifest.json", moved)
