"""The two filesystems a flashable image carries.

LittleFS (littlefs-python) for the "vfs" partition MicroPython mounts at "/": formatted the way
MicroPython's ESP32 port formats it (extmod/vfs_lfs.c: VfsLfs2 with readsize = progsize =
lookahead = 32, block_cycles 100, cache = min(block size, 4 x 32); the block size and count come
from the partition: 4096-byte blocks), on-disk version 2.1 (what MicroPython's littlefs writes).

ROMFS for the "romfs" partition (MicroPython >= 1.25, mounted at /rom with /rom/lib on
sys.path): built with mpremote's writer (mpremote.romfs.VfsRomWriter, what `mpremote romfs
build` uses), read back with `read_romfs`, a strict reader of the format in MicroPython's
extmod/vfs_rom.c: header D2 CD 31, then records of (kind, length, payload) as varuints.
"""

from __future__ import annotations

import littlefs
from littlefs import LittleFS, LittleFSError
from mpremote.romfs import VfsRomWriter

from dta.flash.errors import CapacityError, FirmwareError

# MicroPython's VfsLfs2 defaults (extmod/vfs_lfs.c) and derived cache size (vfs_lfsx.c).
LFS_READ_SIZE = 32
LFS_PROG_SIZE = 32
LFS_LOOKAHEAD = 32
LFS_CACHE = 4 * max(LFS_READ_SIZE, LFS_PROG_SIZE)
LFS_BLOCK_CYCLES = 100
# littlefs on-disk version 2.1: what MicroPython 1.25-1.29 write (lib/littlefs LFS2_DISK_VERSION).
LFS_DISK_VERSION = 0x00020001
LFS_NAME_MAX = 255

ROMFS_HEADER = VfsRomWriter.ROMFS_HEADER
ROMFS_PADDING = VfsRomWriter.ROMFS_RECORD_KIND_PADDING
ROMFS_VERBATIM = VfsRomWriter.ROMFS_RECORD_KIND_DATA_VERBATIM
ROMFS_DIRECTORY = VfsRomWriter.ROMFS_RECORD_KIND_DIRECTORY
ROMFS_FILE = VfsRomWriter.ROMFS_RECORD_KIND_FILE
# Directories in a bundle go 2 deep (lib/dtacore/); 8 bounds the reader's recursion.
MAX_ROMFS_DEPTH = 8


def _littlefs(block_size: int, block_count: int, buffer: bytearray | None = None) -> LittleFS:
    context = littlefs.UserContext(buffer=buffer) if buffer is not None else \
        littlefs.UserContext(block_size * block_count)
    return LittleFS(context=context, mount=False, block_size=block_size,
                    block_count=block_count, read_size=LFS_READ_SIZE, prog_size=LFS_PROG_SIZE,
                    lookahead_size=LFS_LOOKAHEAD, cache_size=LFS_CACHE,
                    block_cycles=LFS_BLOCK_CYCLES, name_max=LFS_NAME_MAX,
                    disk_version=LFS_DISK_VERSION)


def littlefs_image(files: dict[str, bytes], *, size: int, block_size: int) -> bytes:
    """A LittleFS image of `size` bytes (the whole partition) holding `files` (path -> bytes)."""
    fs = _littlefs(block_size, size // block_size)
    fs.format()
    fs.mount()
    try:
        for path in sorted(files):
            parent = path.rpartition("/")[0]
            if parent:
                fs.makedirs(parent, exist_ok=True)
            with fs.open(path, "wb") as fh:
                fh.write(files[path])
    except LittleFSError as exc:
        if exc.code == LittleFSError.Error.LFS_ERR_NOSPC:
            need = sum(len(v) for v in files.values())
            raise CapacityError(f"{len(files)} files ({need} bytes) do not fit the "
                                f"{size}-byte filesystem partition") from None
        raise
    finally:
        fs.unmount()
    return bytes(fs.context.buffer)


def read_littlefs(image: bytes, *, size: int, block_size: int) -> dict[str, bytes]:
    """Every file in a LittleFS image (trailing erased blocks may be cut off: they read FF)."""
    buffer = bytearray(image[:size]) + b"\xff" * (size - min(len(image), size))
    fs = _littlefs(block_size, size // block_size, buffer)
    try:
        fs.mount()
    except LittleFSError as exc:
        raise FirmwareError(f"not a LittleFS image for this partition: {exc}") from None
    out = {}
    for root, _dirs, names in fs.walk("/"):
        for name in names:
            path = f"{root.rstrip('/')}/{name}".lstrip("/")
            with fs.open(path, "rb") as fh:
                out[path] = fh.read()
    fs.unmount()
    return out


def romfs_image(files: dict[str, bytes]) -> bytes:
    """A ROMFS image holding `files` (path -> bytes), directories sorted by name."""
    writer = VfsRomWriter()
    tree: dict = {}
    for path, data in files.items():
        node = tree
        *dirs, name = path.split("/")
        for d in dirs:
            node = node.setdefault(d, {})
        node[name] = data
    _write_tree(writer, tree)
    return writer.finalise()


def _write_tree(writer: VfsRomWriter, tree: dict) -> None:
    for name in sorted(tree):
        if isinstance(tree[name], dict):
            writer.opendir(name)
            _write_tree(writer, tree[name])
            writer.closedir()
        else:
            writer.mkfile(name, tree[name])


def _uint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    value = 0
    for _ in range(10):  # 10 x 7 bits covers any length this format can hold
        if pos >= end:
            raise FirmwareError("ROMFS: a number runs past its record")
        byte = buf[pos]
        pos += 1
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value, pos
    raise FirmwareError("ROMFS: a number is longer than 10 bytes")


def _record(buf: bytes, pos: int, end: int) -> tuple[int, int, int]:
    kind, pos = _uint(buf, pos, end)
    length, pos = _uint(buf, pos, end)
    if pos + length > end:
        raise FirmwareError("ROMFS: a record runs past its parent")
    return kind, pos, pos + length


def _name(buf: bytes, pos: int, end: int) -> tuple[str, int]:
    n, pos = _uint(buf, pos, end)
    if pos + n > end or n == 0:
        raise FirmwareError("ROMFS: a name runs past its record")
    try:
        return buf[pos:pos + n].decode("ascii"), pos + n
    except UnicodeDecodeError:
        raise FirmwareError("ROMFS: a name is not ASCII") from None


def _read_dir(buf, pos, end, prefix, out, depth) -> None:
    if depth > MAX_ROMFS_DEPTH:
        raise FirmwareError(f"ROMFS: directories nest deeper than {MAX_ROMFS_DEPTH}")
    while pos < end:
        kind, body, pos = _record(buf, pos, end)
        if kind == ROMFS_PADDING:
            continue
        name, inner = _name(buf, body, pos)
        if kind == ROMFS_DIRECTORY:
            _read_dir(buf, inner, pos, prefix + name + "/", out, depth + 1)
        elif kind == ROMFS_FILE:
            data_kind, start, stop = _record(buf, inner, pos)
            if data_kind != ROMFS_VERBATIM or stop != pos:
                raise FirmwareError(f"ROMFS: file {prefix + name} holds no verbatim data")
            out[prefix + name] = bytes(buf[start:stop])
        else:
            raise FirmwareError(f"ROMFS: unknown record kind {kind}")


def read_romfs(image: bytes) -> dict[str, bytes]:
    """Every file in a ROMFS image; the bytes after the image (the partition's rest) ignored."""
    if image[:3] != ROMFS_HEADER:
        raise FirmwareError("not a ROMFS image (no D2 CD 31 header)")
    length, pos = _uint(image, 3, min(len(image), 16))
    if pos + length > len(image):
        raise FirmwareError("ROMFS image cut short")
    out: dict[str, bytes] = {}
    _read_dir(image, pos, pos + length, "", out, 0)
    return out
