"""Board definitions: boards/<name>.json, one per board, checked strictly.

A definition says what the firmware reads on the device (name, emulated, entropy, storage,
transport) and, for a board that is flashed, what flashing needs: the chip, the flash chip, the
MicroPython firmware file and its pinned SHA-256 (the operator downloads it; the project never
ships it), where it is written, and the partitions the image builder fills (the filesystem, and
a ROMFS partition when the MicroPython build has one). Unknown keys, wrong types and
inconsistent layouts are ConfigErrors that name the file and the key.

`load(name)` returns the checked definition as a dict (what the bundle ships as board.json);
`flashable(name)` returns it as a `FlashableBoard` for dta.flash.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dta import strictjson
from dta.errors import ConfigError, DecodeError
from dta.services.paths import BOARDS_DIR

# A board file is about 2 KB; anything past 64 KiB is not a board definition.
MAX_BOARD_FILE = 64 * 1024
# object > partitions > app is the deepest a definition nests.
MAX_BOARD_DEPTH = 3
# Flash erase sector: partitions start and end on one (ESP-IDF requires 4 KiB alignment).
SECTOR = 0x1000
# MicroPython's ESP32 port formats the filesystem partition with 4096-byte LittleFS blocks.
LFS_BLOCK_SIZE = 4096
NAME_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
HEX_OFFSET_RE = re.compile(r"0x[0-9a-f]{1,8}")
SHA256_RE = re.compile(r"[0-9a-f]{64}")
VERSION_RE = re.compile(r"\d+\.\d+\.\d+")
FILE_RE = re.compile(r"[A-Za-z0-9._-]{1,128}\.bin")
# chip -> esptool's CHIP_NAME for it (what detect_chip reports on the wire).
CHIPS = {"esp32": "ESP32", "esp32s3": "ESP32-S3", "esp32c3": "ESP32-C3"}
FLASH_SIZES = {"2MB": 2 << 20, "4MB": 4 << 20, "8MB": 8 << 20, "16MB": 16 << 20}
FLASH_MODES = ("qio", "qout", "dio", "dout")
FLASH_FREQS = ("20m", "26m", "40m", "80m")
ENTROPY_SOURCES = ("device", "radio")
SERIAL_KINDS = ("uart", "stdio")

# Field specs: key -> type (or nested spec), for each object; "?" marks an optional key,
# a tuple of types allows each.
_STR, _INT, _BOOL, _NONE = str, int, bool, type(None)
ENTROPY = {"source": _STR, "path?": _STR, "note": _STR}
STORAGE = {"root": _STR, "note": _STR}
SERIAL = {"kind": _STR, "baud": _INT, "uart?": _INT, "tx?": _INT, "rx?": _INT}
TRANSPORT = {"mqtt": _BOOL, "serial": SERIAL}
FLASH = {"size": _STR, "mode": _STR, "freq": _STR, "baud": _INT}
FIRMWARE = {"image": _STR, "micropython": _STR, "file": _STR, "url": (_STR, _NONE),
            "sha256": (_STR, _NONE), "offset": _STR, "note": _STR}
REGION = {"offset": _STR, "size": _STR}
FILESYSTEM = {"offset": _STR, "size": _STR, "block_size": _INT}
PARTITIONS = {"table": _STR, "app": REGION, "filesystem": FILESYSTEM,
              "romfs": (REGION, _NONE)}
BOARD = {"name": _STR, "description": _STR, "chip": (_STR, _NONE), "emulated": _BOOL,
         "entropy": ENTROPY, "storage": STORAGE, "transport": TRANSPORT, "heap_kib": _INT,
         "flash?": FLASH, "firmware?": FIRMWARE, "partitions?": PARTITIONS}
HARDWARE_ONLY = ("flash", "firmware", "partitions")


@dataclass(frozen=True)
class Region:
    """A span of the flash chip: [offset, offset + size)."""
    offset: int
    size: int

    @property
    def end(self) -> int:
        return self.offset + self.size


@dataclass(frozen=True)
class Firmware:
    image: str         # MicroPython's board name (ESP32_GENERIC, ...)
    micropython: str   # its version
    file: str          # the file the operator downloads (or builds)
    url: str | None    # where to download it; None for a custom build
    sha256: str | None  # pinned digest; None: not pinned yet, and the builder refuses it
    offset: int        # where the file is written (the chip's bootloader offset)


@dataclass(frozen=True)
class FlashableBoard:
    name: str
    chip: str           # esptool's chip argument (esp32, esp32s3, esp32c3)
    flash_size: int     # bytes
    flash_mode: str
    flash_freq: str
    baud: int           # esptool's transfer rate
    firmware: Firmware
    table: int          # the partition table's offset
    app: Region         # the factory app partition
    filesystem: Region  # the LittleFS ("vfs") partition
    block_size: int     # its LittleFS block size
    romfs: Region | None
    definition: dict    # the checked board definition (board.json on the device)

    @property
    def chip_name(self) -> str:
        return CHIPS[self.chip]


def names() -> list[str]:
    return sorted(p.stem for p in BOARDS_DIR.glob("*.json"))


def load(name: str) -> dict:
    """The checked definition of board `name` (boards/<name>.json)."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise ConfigError(f"board name {name!r} is not a board name (known: {_known()})")
    path = BOARDS_DIR / f"{name}.json"
    if not path.exists():
        raise ConfigError(f"unknown board {name!r} (known: {_known()})")
    board = parse(path.read_bytes(), where=str(path))
    if board["name"] != name:
        raise ConfigError(f"{path}: name is {board['name']!r}, the file says {name!r}")
    return board


def flashable(name: str) -> FlashableBoard:
    """Board `name` as dta.flash needs it; an emulated board is refused (nothing to flash)."""
    return to_flashable(load(name), where=str(BOARDS_DIR / f"{name}.json"))


def parse(data: bytes | str, where: str) -> dict:
    """Check one board definition (the bytes of a board file); -> the definition."""
    try:
        board = strictjson.loads(data, what=where, max_bytes=MAX_BOARD_FILE,
                                 max_depth=MAX_BOARD_DEPTH)
    except DecodeError as exc:
        raise ConfigError(str(exc)) from None
    _check_object(board, BOARD, where)
    _check_values(board, where)
    if not board["emulated"]:
        to_flashable(board, where)
    return board


def to_flashable(board: dict, where: str) -> FlashableBoard:
    if board["emulated"]:
        raise ConfigError(f"{where}: board {board['name']!r} is emulated; nothing to flash")
    fw, parts, flash = board["firmware"], board["partitions"], board["flash"]
    firmware = Firmware(fw["image"], fw["micropython"], fw["file"], fw["url"], fw["sha256"],
                        _offset(fw["offset"], f"{where}: firmware.offset"))
    romfs = parts["romfs"]
    result = FlashableBoard(
        name=board["name"], chip=board["chip"], flash_size=FLASH_SIZES[flash["size"]],
        flash_mode=flash["mode"], flash_freq=flash["freq"], baud=flash["baud"],
        firmware=firmware, table=_offset(parts["table"], f"{where}: partitions.table"),
        app=_region(parts["app"], f"{where}: partitions.app"),
        filesystem=_region(parts["filesystem"], f"{where}: partitions.filesystem"),
        block_size=parts["filesystem"]["block_size"],
        romfs=_region(romfs, f"{where}: partitions.romfs") if romfs else None,
        definition=board)
    _check_layout(result, where)
    return result


def _known() -> str:
    return ", ".join(names())


def _type_name(kind) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join("an object" if isinstance(k, dict) else {
        str: "a string", int: "an integer", bool: "true or false", _NONE: "null"}[k]
        for k in kinds)


def _check_object(obj, spec: dict, where: str) -> None:
    if not isinstance(obj, dict):
        raise ConfigError(f"{where}: expected an object, got {type(obj).__name__}")
    keys = {k.rstrip("?"): k.endswith("?") for k in spec}
    unknown = sorted(set(obj) - set(keys))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(keys)})")
    for key, optional in keys.items():
        if key not in obj:
            if optional:
                continue
            raise ConfigError(f"{where}: missing key {key!r}")
        _check_type(obj[key], spec[key + ("?" if optional else "")], f"{where}: {key}")


def _check_type(value, kind, where: str) -> None:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    for k in kinds:
        if isinstance(k, dict) and isinstance(value, dict):
            _check_object(value, k, where)
            return
        if k is _NONE and value is None:
            return
        if k in (str, bool) and type(value) is k:
            return
        if k is int and type(value) is int:
            return
    raise ConfigError(f"{where}: expected {_type_name(kind)}, got {value!r}"[:200])


def _choice(value, allowed, where: str) -> None:
    if value not in allowed:
        raise ConfigError(f"{where}: {value!r} is not one of {', '.join(allowed)}")


def _check_values(board: dict, where: str) -> None:
    if not NAME_RE.fullmatch(board["name"]):
        raise ConfigError(f"{where}: name {board['name']!r} must match {NAME_RE.pattern}")
    _choice(board["entropy"]["source"], ENTROPY_SOURCES, f"{where}: entropy.source")
    _choice(board["transport"]["serial"]["kind"], SERIAL_KINDS,
            f"{where}: transport.serial.kind")
    if board["emulated"]:
        extra = [k for k in HARDWARE_ONLY if k in board]
        if extra or board["chip"] is not None:
            raise ConfigError(f"{where}: an emulated board has no chip and no "
                              f"{', '.join(HARDWARE_ONLY)} sections")
        return
    missing = [k for k in HARDWARE_ONLY if k not in board]
    if missing:
        raise ConfigError(f"{where}: a hardware board needs {', '.join(missing)}")
    _choice(board["chip"], tuple(CHIPS), f"{where}: chip")
    flash, fw = board["flash"], board["firmware"]
    _choice(flash["size"], tuple(FLASH_SIZES), f"{where}: flash.size")
    _choice(flash["mode"], FLASH_MODES, f"{where}: flash.mode")
    _choice(flash["freq"], FLASH_FREQS, f"{where}: flash.freq")
    if fw["sha256"] is not None and not SHA256_RE.fullmatch(fw["sha256"]):
        raise ConfigError(f"{where}: firmware.sha256 must be 64 lowercase hex digits or null")
    if not FILE_RE.fullmatch(fw["file"]):
        raise ConfigError(f"{where}: firmware.file {fw['file']!r} is not a .bin file name")
    if not VERSION_RE.fullmatch(fw["micropython"]):
        raise ConfigError(f"{where}: firmware.micropython must look like 1.25.0")
    if fw["url"] is not None and not fw["url"].startswith("https://"):
        raise ConfigError(f"{where}: firmware.url must be an https:// URL or null")


def _offset(text: str, where: str) -> int:
    if not HEX_OFFSET_RE.fullmatch(text):
        raise ConfigError(f"{where}: {text!r} is not a lowercase hex offset like 0x10000")
    return int(text, 16)


def _region(spec: dict, where: str) -> Region:
    region = Region(_offset(spec["offset"], f"{where}.offset"),
                    _offset(spec["size"], f"{where}.size"))
    if region.offset % SECTOR or region.size % SECTOR or region.size == 0:
        raise ConfigError(f"{where}: offset and size must be non-zero multiples of "
                          f"{SECTOR:#x} (the flash sector)")
    return region


def _check_layout(board: FlashableBoard, where: str) -> None:
    """Firmware, table, app, ROMFS and filesystem in flash order, inside the chip, no overlap."""
    if board.block_size != LFS_BLOCK_SIZE:
        raise ConfigError(f"{where}: partitions.filesystem.block_size must be {LFS_BLOCK_SIZE} "
                          "(what MicroPython's ESP32 port formats with)")
    if not board.firmware.offset < board.table < board.app.offset:
        raise ConfigError(f"{where}: firmware.offset < partitions.table < partitions.app.offset "
                          "must hold")
    spans = [("partitions.app", board.app)]
    if board.romfs:
        spans.append(("partitions.romfs", board.romfs))
    spans.append(("partitions.filesystem", board.filesystem))
    for (name_a, a), (name_b, b) in zip(spans, spans[1:], strict=False):
        if a.end > b.offset:
            raise ConfigError(f"{where}: {name_a} ends at {a.end:#x}, past the start of "
                              f"{name_b} at {b.offset:#x}")
    if board.filesystem.end > board.flash_size:
        raise ConfigError(f"{where}: partitions.filesystem ends at {board.filesystem.end:#x}, "
                          f"past the end of the {board.flash_size >> 20} MiB flash")
