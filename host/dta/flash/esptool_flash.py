"""`dta devices flash`: erase, write and verify one image through esptool's Python API, then
read the device's first hello on its console.

Thin on purpose: every step is an esptool.cmds call (detect_chip, run_stub, attach_flash,
detect_flash_size, erase_flash, write_flash, verify_flash, reset_chip); what this module adds
is the checks before anything is erased (the image's firmware is the one the board pins, the
chip and the flash chip are the board's) and the progress callback. It needs a board: the tests
cover the checks and the console, not the erase and write (docs/flashing.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import serial
from esptool.cmds import (
    attach_flash,
    detect_chip,
    detect_flash_size,
    erase_flash,
    reset_chip,
    run_stub,
    verify_flash,
    write_flash,
)
from esptool.util import FatalError

from dta.firmware.boards import FLASH_SIZES, FlashableBoard
from dta.flash import console, esptool_log, image
from dta.flash.errors import DeviceError, FirmwareError

# (stage, done, total): stage is "erase", "write" or "verify"; done/total in esptool's units.
ProgressFn = Callable[[str, int, int], None]
STAGES = ("erase", "write", "verify")


@dataclass(frozen=True)
class Flashed:
    chip: str           # what esptool detected (ESP32, ESP32-S3, ...)
    flash_size: str     # what esptool detected (4MB, ...)
    image_bytes: int
    hello: console.Hello

    @property
    def key_id(self) -> str:
        return self.hello.key_id


def _check_chip(esp, board: FlashableBoard) -> str:
    if esp.CHIP_NAME != board.chip_name:
        raise DeviceError(f"the board on the port is an {esp.CHIP_NAME}, {board.name} is an "
                          f"{board.chip_name}: wrong --board or wrong port")
    size = detect_flash_size(esp)
    if size is None or FLASH_SIZES.get(size, 0) < board.flash_size:
        raise DeviceError(f"the board has {size or 'an unknown size of'} flash, {board.name} "
                          f"needs {board.flash_size >> 20}MB")
    return size


def _write(port: str, board: FlashableBoard, data: bytes, progress: ProgressFn | None,
           on_message: Callable[[str], None] | None):
    stage = ["connect"]

    def on_progress(done: int, total: int) -> None:
        if progress:
            progress(stage[0], done, total)

    def begin(name: str) -> None:
        stage[0] = name
        on_progress(0, 1)

    addr_data = [(board.firmware.offset, data)]
    with esptool_log.captured(on_message, on_progress), detect_chip(port) as rom:
        esp = run_stub(rom)
        esp.change_baud(board.baud)
        attach_flash(esp)
        size = _check_chip(esp, board)
        chip = esp.CHIP_NAME
        begin("erase")
        erase_flash(esp)
        on_progress(1, 1)
        begin("write")
        write_flash(esp, addr_data)
        begin("verify")
        verify_flash(esp, addr_data)
        on_progress(1, 1)
        reset_chip(esp, "hard-reset")
    return chip, size


def flash(port: str, board: FlashableBoard, image_path, *,
          progress: ProgressFn | None = None, on_message: Callable[[str], None] | None = None,
          on_console: Callable[[str], None] | None = None,
          hello_timeout: float = console.HELLO_TIMEOUT) -> Flashed:
    """Erase the board on `port`, write and verify `image_path`, reset it, and wait for the
    hello of its first boot. Refuses before erasing anything if the image's firmware is not the
    one `board` pins, or the chip or its flash is not the board's."""
    try:
        data = Path(image_path).read_bytes()
    except OSError as exc:
        raise FirmwareError(f"{image_path}: cannot read: {exc.strerror}") from None
    image.check_image(board, data)
    try:
        chip, size = _write(port, board, data, progress, on_message)
    except (FatalError, serial.SerialException, OSError) as exc:
        raise DeviceError(f"esptool on {port}: {exc}") from None
    hello = console.wait_for_hello(port, timeout=hello_timeout, on_line=on_console)
    return Flashed(chip, size, len(data), hello)
