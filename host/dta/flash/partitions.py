"""ESP-IDF's binary partition table (the one MicroPython's firmware file carries at 0x8000).

Layout (ESP-IDF "Partition Tables", gen_esp32part.py's format): 32-byte entries
    magic 0xAA50 (bytes AA 50) | type u8 | subtype u8 | offset u32 LE | size u32 LE |
    label 16 bytes, NUL padded | flags u32 LE
then one MD5 entry: bytes EB EB, 14 bytes FF, the MD5 of every entry before it; the rest of the
table's 0xC00 bytes are FF (erased flash). Decoding is strict: a bad magic, a wrong MD5, a
missing end, overlapping or misaligned partitions are errors.

MicroPython >= 1.26 puts no "vfs" entry in its table: at boot it adds one from the end of the
last partition to the end of the flash chip it detects (ports/esp32/main.c). `filesystem()`
mirrors that rule.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from dta.flash.errors import FirmwareError

# ESP-IDF reserves 0xC00 bytes for the table (95 entries + the MD5 entry).
TABLE_LEN = 0xC00
ENTRY_LEN = 32
ENTRY_MAGIC = b"\xaa\x50"
MD5_MAGIC = b"\xeb\xeb"
LABEL_LEN = 16
# Partitions start and end on flash sectors.
SECTOR = 0x1000
TYPE_APP = 0x00
TYPE_DATA = 0x01
SUBTYPE_FACTORY = 0x00
SUBTYPE_FAT = 0x81  # what MicroPython's tables give "vfs"
SUBTYPE_ROMFS = 0x8F  # partitions-4MiB-romfs.csv
FILESYSTEM_LABELS = ("vfs", "ffat")  # the labels MicroPython mounts as its filesystem
_ENTRY = struct.Struct("<2sBBII16sI")


@dataclass(frozen=True)
class Partition:
    label: str
    type: int
    subtype: int
    offset: int
    size: int
    flags: int = 0

    @property
    def end(self) -> int:
        return self.offset + self.size


def encode(parts: list[Partition]) -> bytes:
    """The table for `parts`, padded with FF to TABLE_LEN (used to build test stand-ins and to
    document a custom layout; MicroPython's own tables come with its firmware)."""
    body = b"".join(_ENTRY.pack(ENTRY_MAGIC, p.type, p.subtype, p.offset, p.size,
                                p.label.encode("ascii").ljust(LABEL_LEN, b"\0"), p.flags)
                    for p in parts)
    table = body + MD5_MAGIC + b"\xff" * 14 + hashlib.md5(body).digest()
    if len(table) > TABLE_LEN:
        raise ValueError(f"{len(parts)} partitions do not fit a {TABLE_LEN:#x}-byte table")
    return table.ljust(TABLE_LEN, b"\xff")


def decode(table: bytes) -> tuple[Partition, ...]:
    """The partitions in `table` (TABLE_LEN bytes read at the table's offset)."""
    if len(table) < TABLE_LEN:
        raise FirmwareError(f"partition table cut short: {len(table)} of {TABLE_LEN} bytes")
    parts: list[Partition] = []
    for pos in range(0, TABLE_LEN, ENTRY_LEN):
        entry = table[pos:pos + ENTRY_LEN]
        if entry[:2] == MD5_MAGIC:
            _check_md5(table, pos)
            _check_end(table, pos + ENTRY_LEN)
            _check_order(parts)
            return tuple(parts)
        if entry[:2] != ENTRY_MAGIC:
            raise FirmwareError(f"partition table entry {len(parts)} at +{pos:#x} has no "
                                f"magic (got {entry[:2].hex()}): not a partition table")
        parts.append(_entry(entry, len(parts)))
    raise FirmwareError("partition table has no MD5 entry")


def _entry(entry: bytes, index: int) -> Partition:
    _, ptype, subtype, offset, size, label, flags = _ENTRY.unpack(entry)
    name = label.rstrip(b"\0")
    if b"\0" in name or not name.isascii():
        raise FirmwareError(f"partition table entry {index}: label is not ASCII")
    return Partition(name.decode(), ptype, subtype, offset, size, flags)


def _check_md5(table: bytes, pos: int) -> None:
    entry = table[pos:pos + ENTRY_LEN]
    want, got = hashlib.md5(table[:pos]).digest(), entry[16:]
    if entry[2:16] != b"\xff" * 14 or got != want:
        raise FirmwareError("partition table MD5 does not match its entries",
                            expected=want.hex(), got=got.hex())


def _check_end(table: bytes, pos: int) -> None:
    if table[pos:TABLE_LEN].strip(b"\xff"):
        raise FirmwareError("partition table has bytes after its MD5 entry")


def _check_order(parts: list[Partition]) -> None:
    labels = [p.label for p in parts]
    if len(set(labels)) != len(labels):
        raise FirmwareError(f"partition table repeats a label: {labels}")
    spans = sorted(parts, key=lambda p: p.offset)
    for p in spans:
        if p.offset % SECTOR or p.size % SECTOR or p.size == 0:
            raise FirmwareError(f"partition {p.label!r} is not sector aligned "
                                f"({p.offset:#x}, {p.size:#x})")
    for a, b in zip(spans, spans[1:], strict=False):
        if a.end > b.offset:
            raise FirmwareError(f"partitions {a.label!r} and {b.label!r} overlap")


def find(parts: tuple[Partition, ...], label: str) -> Partition | None:
    return next((p for p in parts if p.label == label), None)


def factory_app(parts: tuple[Partition, ...]) -> Partition:
    app = next((p for p in parts if p.type == TYPE_APP and p.subtype == SUBTYPE_FACTORY), None)
    if app is None:
        raise FirmwareError("partition table has no factory app partition")
    return app


def filesystem(parts: tuple[Partition, ...], flash_size: int) -> tuple[int, int]:
    """(offset, size) of the partition MicroPython mounts at "/": the table's "vfs" (or
    "ffat") entry, else the span from the end of the last partition to the end of flash."""
    for label in FILESYSTEM_LABELS:
        part = find(parts, label)
        if part is not None and part.type == TYPE_DATA:
            return part.offset, part.size
    end = max(p.end for p in parts)
    return end, max(flash_size - end, 0)
