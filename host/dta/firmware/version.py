"""The firmware version, read from the firmware's own version module (one source of truth)."""

import re

from dta.services.paths import FIRMWARE_DIR


def firmware_version() -> str:
    text = (FIRMWARE_DIR / "dtanode" / "version.py").read_text()
    match = re.search(r'FIRMWARE_VERSION = "([^"]+)"', text)
    return match.group(1) if match else "unknown"
