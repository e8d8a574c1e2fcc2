"""The device on the MicroPython VM: boot-to-hello, then the whole agent against a federation.

    .venv/bin/python -m bench device        (from the repo root; ~3 min)

Part 1, boot to hello (96 KiB heap, the agent's budget):

Ours: the real firmware bundle, booted ROUNDS times on one device directory (the first boot makes
the key, later boots reload it): entropy start-up tests, key load, boot counter write, hello
signing, MQTT connect + QoS 1 publish, disconnect. Wall time from process start to exit, so the
VM's own start-up (~13 ms) is in both figures.
Peer: the same VM and the same umqtt.simple publishing an unsigned 126-byte hello (nothing else).
The ratio is the cost of a device that proves who it is. ESP32 estimate: VM ms x 100..400
(interpreter-bound code ~100x, bigint code 200-400x slower there; toolchain.md), a range.

Part 2, the whole agent (bench/_agent_run.py): three D-TAs born on a regtest node, the agent
under the emulated board layer. The smallest heap in which the first boot (three births
checked, three full handshakes, three shares with their receipts, the combination) completes,
found in 8 KiB steps upwards from the peak the agent's memory trace reports (in a roomy heap),
each try with the trace off (its collections before every console line are not the device's);
then the smallest in which the whole run (first boot, plain wakes, the receipt wake) completes,
from there upwards. Where the peak is and what holds it: the bytecode of the modules loaded
there and the names every loaded module interned (qstrs: never freed, whatever is unloaded),
both measured by importing those modules in a fresh VM; on an ESP32 the bytecode stays in flash
(frozen or ROMFS) and the names' text too, the Unix port copies both into the heap, with
pointers twice an ESP32's size. The device's own compute per step (it times its own work,
network waits excluded); peer in the same run: dtacore's handshake alone, the vectors replayed
on the same VM (bench/_handshake_vm.py). Then deep-sleep cycles: CPU ms of each wake's VM
process (kernel accounting: VM start-up and module loading included), bytes on the socket and
files written per cycle, and the flash's life at one cycle a minute.
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
HEAP = "96k"


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
    boot_to_hello(work, bundle)
    agent(work, bundle)


def boot_to_hello(work: Path, bundle) -> None:
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


# What the first boot's peak holds (a share's pending receipt checked inside a session, the
# third D-TA's): the agent and its link, the session, the receipt check, the curve for its
# signature. Grouped for the report; dtanode.app is gone by then (main.py unloads it).
PEAK_CODE = (
    ("agent and link", ("dtacore.errors", "dtanode.errors", "dtacore.wire", "dtacore.channel",
                        "dtanode.report", "dtanode.stages", "dtanode.version", "dtanode.records",
                        "dtanode.board", "dtanode.guard", "dtanode.clock", "dtanode.entropy",
                        "dtanode.agent", "dtanode.transport", "umqtt.simple", "dtanode.outbox",
                        "dtanode.events", "dtanode.truststore")),
    ("session", ("dtanode.dtapeer", "dtanode.shareflow", "dtacore.handshake_wire",
                 "dtacore.session", "dtacore.ccm", "dtacore.backend")),
    ("receipt check", ("dtacore.receipt", "dtacore.receipt_bytes", "dtacore.entries",
                       "dtacore.merkle", "dtacore.note")),
    ("curve", ("dtacore.secp256k1", "dtacore.ecmult", "dtacore.gtable", "dtacore.ecdsa",
               "dtacore.ecverify", "dtacore.gtable_wnaf")),
)
# Every module a first boot loads before that peak: their names stay interned.
FIRST_BOOT = tuple(n for _, group in PEAK_CODE for n in group) + (
    "dtanode.config", "dtanode.config_schema", "dtanode.jsontext", "dtanode.app",
    "dtanode.identity", "dtanode.wifi", "dtanode.birthcheck", "dtacore.hmac", "dtacore.hkdf",
    "dtacore.fixedbase", "dtacore.gtable_comb", "dtacore.handshake", "dtacore.exchange",
    "dtacore.resumption", "dtacore.ecdh", "dtacore.der", "dtacore.prepared", "dtacore.trust",
    "dtacore.spv", "dtacore.birth", "dtacore.anchor", "dtacore.bitcoin", "dtacore.network",
    "dtacore.shares")
CYCLES = 3
# A 4 MB flash: LittleFS spreads writes over its blocks (wear levelling); ESP32 flash chips are
# rated for 100,000 erase cycles per 4 KiB sector. Each file write costs about one block erase
# (a small file fits one block, the metadata pair is written too: count two).
FLASH_BYTES = 4 * 1024 * 1024
SECTOR = 4096
ERASE_CYCLES = 100_000
ERASES_PER_WRITE = 2


_HELD = """import gc
import micropython
from dtanode.stages import unload
micropython.qstr_info()
for n in %r:
    __import__(n)
unload(*%r)
micropython.qstr_info()
for group in %r:
    b = gc.mem_alloc()
    for n in group:
        __import__(n)
    gc.collect()
    print("code", gc.mem_alloc() - b)
"""


def _held_kib(bundle) -> tuple[list[float], float]:
    """(KiB of bytecode per PEAK_CODE group, KiB of the names FIRST_BOOT interns: the qstr
    pools and their text, micropython.qstr_info's total), in a fresh VM: every module imported
    and unloaded first, so the groups' figures hold no names."""
    groups = [g for _, g in PEAK_CODE]
    unloaded = [n for n in FIRST_BOOT if n != "dtanode.stages"]
    res = micropython.run_code(_HELD % (FIRST_BOOT, unloaded, groups), heapsize="1m",
                               path=(bundle.root / "lib",))
    out = res.stdout.decode()
    if res.returncode != 0:
        raise SystemExit(out + res.stderr.decode())
    pools = [int(line.rsplit("n_total_bytes=", 1)[1]) for line in out.splitlines()
             if "n_total_bytes=" in line]
    code = [int(line.split()[1]) / 1024 for line in out.splitlines() if line.startswith("code ")]
    return code, (pools[1] - pools[0]) / 1024


def _smallest(fed, bundle, peak_kib: int):
    # Upwards from the peak in use (no smaller heap can hold it), the trace off.
    from bench._agent_run import first_boot
    kib = (peak_kib + 7) // 8 * 8
    found = None
    while kib <= 512:
        got = first_boot(fed, bundle, f"{kib}k", trace=False)
        if got is not None:
            found = (kib, got)
            break
        kib += 8
    return found


def _peer_handshake(work: Path) -> dict:
    from bench.handshake import HERE, _vm, compile_firmware
    lib = compile_firmware(work / "hs-lib", [HERE / "_handshake_vm.py"])
    best: dict = {}
    for _ in range(3):
        res = _vm("speed", heapsize="512k", path=(lib,))
        for line in res.stdout.decode().splitlines():
            f = line.split()
            if len(f) == 3 and f[0] == "speed":
                best[f[1]] = min(best.get(f[1], 1e9), float(f[2]))
    return best


def agent(work: Path, bundle) -> None:
    from bench._agent_run import Federation, cycles, first_boot
    fed = Federation(work / "agent")
    try:
        roomy = first_boot(fed, bundle, "512k")
        if roomy is None:
            raise SystemExit("the agent did not complete its first boot in 512 KiB")
        smallest = _smallest(fed, bundle, roomy["peak"] // 1024)
        traced = cycles(fed, bundle, "512k", CYCLES)  # each boot's peak in use, and where
        kib = smallest[0] if smallest else 512
        while True:  # the wakes add the receipts' checks: the smallest heap they all run in
            try:
                cyc = cycles(fed, bundle, f"{kib}k", CYCLES, trace=False)
                break
            except MemoryError:
                kib += 8
        cyc["heap"] = kib
        cyc["peaks"] = traced["peaks"]
    finally:
        fed.close()
    peer = _peer_handshake(work)
    _report_agent(roomy, smallest, cyc, peer, _held_kib(bundle))


def _ms(us: int) -> float:
    return us / 1000


def _report_agent(roomy, smallest, cyc, peer, held) -> None:
    print()
    print("The whole agent against three D-TAs born on a regtest node (device compute from its "
          "own ticks_us, waits excluded)")
    if smallest is None:
        print("  smallest heap for the first boot: more than 512 KiB")
    else:
        print(f"  smallest heap for the first boot (births, full handshakes, shares): "
              f"{smallest[0]} KiB (8 KiB steps up from the peak; target 96)")
    print(f"  smallest heap for the whole run, anchored receipts and sleep cycles included: "
          f"{cyc['heap']} KiB")
    labels = ["first boot"] + ["wake"] * (len(cyc["peaks"]) - 2) + ["receipt wake"]
    print("  peak in use after a collection (memory trace, 512 KiB heap): " + "; ".join(
        f"{lab} {mem / 1024:.0f} KiB at {at}" for lab, (mem, at) in zip(
            labels, cyc["peaks"], strict=False)))
    code, names = held
    print(f"  at the first boot's peak ({roomy['peak'] / 1024:.0f} KiB at {roomy['at']}): "
          f"bytecode {sum(code):.0f} KiB (" + ", ".join(
              f"{label} {k:.0f}" for (label, _), k in zip(PEAK_CODE, code, strict=True))
          + f"), interned names {names:.0f} KiB, the rest "
          f"{roomy['peak'] / 1024 - sum(code) - names:.0f} KiB data; the bytecode and the "
          "names' text stay in flash on an ESP32")
    full = sorted(h["cpu_us"] for h in roomy["handshakes"] if h["resumed"] is False)
    resumed = sorted(e["cpu_us"] for e in cyc["events"]
                     if e["event"] == "handshake" and e["resumed"] is True)
    fp, rp = peer.get("full_initiator"), peer.get("resumed_initiator")
    fmed, rmed = _ms(full[len(full) // 2]), _ms(resumed[len(resumed) // 2])
    print(f"  full handshake (device as initiator, D-TA key as 33 bytes): {fmed:.2f} ms median of "
          f"{len(full)} (target 8); peer, dtacore alone with a prepared key: {fp:.2f} ms "
          f"({fmed / fp:.2f}x); ESP32 {fmed * 0.2:.1f}-{fmed * 0.4:.1f} s; loading its "
          f"modules first: {_ms(sorted(h['load_us'] for h in roomy['handshakes'])[1]):.1f} ms "
          "(frozen on an ESP32)")
    print(f"  resumed handshake: {rmed:.3f} ms median of {len(resumed)} (target 0.5); peer "
          f"{rp:.3f} ms ({rmed / rp:.2f}x); ESP32 {rmed * 100:.0f}-{rmed * 400:.0f} ms")
    for t, h in zip(roomy["trusted"], full, strict=False):
        print(f"  first handshake with a new D-TA: birth check {_ms(t['cpu_us']):.1f} ms "
              f"(Birth Record, tx, proof, {t['tip'] - t['birth'] + 1} confirmations streamed) "
              f"+ handshake {_ms(h):.2f} ms")
    c = roomy["combined"]
    print(f"  three shares checked (statement signature, share*G) with their pending receipts "
          f"(entry, inclusion, checkpoint signature), combined: {_ms(c['cpu_us']):.1f} ms; "
          f"ESP32 {_ms(c['cpu_us']) * 0.2:.1f}-{_ms(c['cpu_us']) * 0.4:.1f} s")
    for r in [e for e in cyc["events"] if e["event"] == "receipt"]:
        if r["valid"] is not True:
            print(f"  anchored receipt refused: {r.get('link')} ({r.get('detail')})")
            continue
        print(f"  anchored receipt verified end to end: {_ms(r['cpu_us']):.1f} ms "
              f"(ESP32 {_ms(r['cpu_us']) * 0.2:.1f}-{_ms(r['cpu_us']) * 0.4:.1f} s)")
    _report_cycles(cyc)


def _report_cycles(cyc) -> None:
    sleeps = [e for e in cyc["events"] if e["event"] == "sleep"]
    marks = [cyc["cpu0"]] + cyc["cpu"]  # cumulative CPU of reaped VM processes
    cpu = [b - a for a, b in zip(marks, marks[1:], strict=False)]
    print("  deep-sleep cycles (wake, resume 3 sessions, 3 events, acks, sleep):")
    for i, s in enumerate(sleeps):
        label = "first boot" if i == 0 else ("receipt wake" if i == len(sleeps) - 1 else "wake")
        print(f"    {label:12s} CPU {cpu[i] if i < len(cpu) else float('nan'):7.1f} ms, "
              f"{s['sent'] + s['received']:6d} B on the wire ({s['sent']} out), "
              f"{s['writes']:3d} flash writes")
    plain = [s["writes"] for s in sleeps[1:-1]] or [sleeps[-1]["writes"]]
    per = max(plain)
    life = FLASH_BYTES // SECTOR * ERASE_CYCLES / (per * ERASES_PER_WRITE)
    print(f"    flash: {per} writes per cycle; a {FLASH_BYTES >> 20} MB flash ({ERASE_CYCLES:,} "
          f"erases a sector, wear-levelled, ~{ERASES_PER_WRITE} erases a write) lasts "
          f"~{life / 525_600:.0f} years at one cycle a minute")
    wake = cpu[1:-1]
    if wake:
        print(f"    awake CPU per plain wake: {statistics.median(wake):.1f} ms on the VM (start-up "
              f"and module loading included); ESP32 {statistics.median(wake) * 0.1:.0f}-"
              f"{statistics.median(wake) * 0.4:.0f} ms plus Wi-Fi")
    print(f"    events logged {cyc['logged']} (deliveries {cyc['deliveries']}: redeliveries are "
          "deduplicated by event id)")
