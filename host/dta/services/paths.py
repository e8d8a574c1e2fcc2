"""Where the source tree's non-Python parts live (firmware, boards, devnet)."""

from pathlib import Path

import dtacore

FIRMWARE_DIR = Path(dtacore.__file__).resolve().parent.parent
REPO_DIR = FIRMWARE_DIR.parent
BOARDS_DIR = REPO_DIR / "boards"
DEVNET_DIR = REPO_DIR / "devnet"
