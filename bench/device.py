"""Device boot-to-hello on the MicroPython VM (64 KiB heap): time and heap, against a plain peer.

    .venv/bin/python -m bench device        (from the repo root; ~10 s)

Ours: the real firmware bundle, booted ROUNDS times on one device directory (the first boot makes
the key, later boots reload it): entropy start-up tests, key load, boot counter write, hello
signing, MQTT connect + QoS 1 publish, disconnect. Wall time from process start to exit, so the
VM's own start-up (~13 ms) is in both figures.
Peer: the same VM and the same umqtt.simple publishing an unsigned 126-byte hello (nothing else).
The ratio is the cost of a device that proves who it is. ESP32 estimate: VM ms x 100..400
(interpreter-bound code ~100x, bigint code 200-400x slower there; toolchain.md), a range.
"""

from __future__ import annotations

import resource
import statistics
import tempfile
import time
from pathlib import Path

from dta.emulator import EmulatedDevice
from dta.firmware.bundle import build
from dta.services import micropython
from dta.services.mosquitto import Mosquitto

ROUNDS = 15
HEAP = "64k"


def _timed(fn):
    """(wall ms, CPU ms of the child VM, result): CPU time is the device's own work; wall time
    also holds the broker round trips (loopback, but with TCP delayed ACKs)."""
    r0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    out = fn()
    r1, t1 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    cpu = (r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime) * 1000
    return (t1 - t0) * 1000, cpu, out


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="dta-bench-device-"))
    bundle = build("unix", work / "bundle")
    with Mosquitto(work / "broker") as broker:
        dev = EmulatedDevice(work / "dev", heapsize=HEAP)
        dev.flash(bundle)
        dev.configure(mqtt_port=broker.port, once=True)
        first = _timed(dev.run)
        ours, used = [], []
        for _ in range(ROUNDS):
            wall, cpu, run = _timed(dev.run)
            if run.returncode != 0:
                raise SystemExit(run.output)
            ours.append((wall, cpu))
            used.append(int(run.first("memory")["used"]))
        peer, peer_used = [], []
        script = Path(__file__).with_name("_plain_hello.py")
        for _ in range(ROUNDS):
            wall, cpu, out = _timed(lambda: micropython.run(
                script, str(broker.port), heapsize=HEAP, path=(bundle.root / "lib",)))
            if out.returncode != 0:
                raise SystemExit(out.stdout.decode())
            peer.append((wall, cpu))
            peer_used.append(int(out.stdout.decode().split("used=")[1]))

        idle = [_timed(lambda: micropython.run_code("pass", heapsize=HEAP))[:2]
                for _ in range(ROUNDS)]

    def med(rows, i):
        return statistics.median(r[i] for r in rows)

    print(f"MicroPython VM {micropython.binary()}, heap {HEAP}, {ROUNDS} boots each, median")
    print(f"{'':28}{'wall ms':>9}{'CPU ms':>9}{'heap used':>12}")
    print(f"{'dta firmware (key reused)':28}{med(ours, 0):9.1f}{med(ours, 1):9.1f}"
          f"{max(used):>10} B")
    print(f"{'dta firmware (first boot)':28}{first[0]:9.1f}{first[1]:9.1f}"
          f"{int(first[2].first('memory')['used']):>10} B")
    print(f"{'peer: plain umqtt hello':28}{med(peer, 0):9.1f}{med(peer, 1):9.1f}"
          f"{max(peer_used):>10} B")
    print(f"{'VM start-up alone (-c pass)':28}{med(idle, 0):9.1f}{med(idle, 1):9.1f}")
    print(f"ratio ours/peer: CPU {med(ours, 1) / med(peer, 1):.2f}x, "
          f"heap {max(used) / max(peer_used):.2f}x (wall {med(ours, 0) / med(peer, 0):.2f}x)")
    work = med(ours, 1) - med(idle, 1)
    print(f"ESP32 @240 MHz estimate of the device's work per boot: "
          f"{work * 0.1:.1f}-{work * 0.4:.1f} s (x 100..400; Wi-Fi join and network waits not "
          "included)")
