"""Board definitions: boards/<name>.json, one per board."""

from __future__ import annotations

import json

from dta.errors import ConfigError
from dta.services.paths import BOARDS_DIR

REQUIRED = ("name", "description", "chip", "emulated", "entropy", "storage", "transport")


def names() -> list[str]:
    return sorted(p.stem for p in BOARDS_DIR.glob("*.json"))


def load(name: str) -> dict:
    path = BOARDS_DIR / f"{name}.json"
    if not path.exists():
        raise ConfigError(f"unknown board {name!r} (known: {', '.join(names())})")
    try:
        board = json.loads(path.read_text())
    except ValueError as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc}") from None
    missing = [k for k in REQUIRED if k not in board]
    if missing or board.get("name") != name:
        raise ConfigError(f"{path}: malformed board definition (missing {missing} or wrong name)")
    if not board["emulated"] and "flash" not in board:
        raise ConfigError(f"{path}: a hardware board needs a flash section")
    return board
