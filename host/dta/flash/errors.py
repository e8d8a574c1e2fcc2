"""Errors of dta.flash. Config mistakes (device.toml, secrets, board files) are
dta.errors.ConfigError; everything about firmware files, images and devices is a FlashError."""

from __future__ import annotations

from dta.errors import DtaError


class FlashError(DtaError):
    """Base of dta.flash's errors."""


class FirmwareError(FlashError):
    """A MicroPython firmware file (or the firmware part of an image) that is not the one the
    board definition pins, not an image for the board's chip, or whose partition table does not
    match the board definition. When a recomputed value differs, both are kept."""

    def __init__(self, msg: str, expected=None, got=None):
        super().__init__(msg)
        self.expected = expected
        self.got = got


class CapacityError(FlashError):
    """Files that do not fit the partition they are meant for."""


class DeviceError(FlashError):
    """A board that does not answer as it should: esptool failing, a console that shows no
    hello, a device that refuses its config or its boot. `key_id` is set when the device said
    which key it has."""

    def __init__(self, msg: str, key_id: str | None = None):
        super().__init__(msg)
        self.key_id = key_id
