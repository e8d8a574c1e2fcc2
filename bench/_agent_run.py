"""The whole device agent against a real federation, for bench/device.py (not a benchmark module
itself): three D-TAs (dta.issuance) born on a bcoin regtest node, a mosquitto, the firmware on
the MicroPython VM under the host half of the board layer (dta.emulator.EmulatedBoard), with
the agent's memory trace on (every console line carries the heap in use and its peak).

  first boot: three births checked from streamed bundles (SPV, k+1 headers and more), three
              full handshakes, three shares and their pending receipts, the combination
  cycles:     deep sleep, wake, resume three sessions, three application events, acks, sleep;
              once the checkpoints are anchored, the wake that takes the upgraded receipts

The device reports its own compute per step (cpu_us: ticks_us around its own work, waits for
the network excluded) and, per cycle, the bytes on its socket and the files it wrote; the CPU
time of each VM process (one per wake) comes from the kernel (RUSAGE_CHILDREN)."""

from __future__ import annotations

import queue
import resource
import shutil
from pathlib import Path

from dta.emulator import EmulatedBoard, EmulatedDevice
from dta.services import regtest
from dtacore import backend, wire
from tests.fixtures.chain import Regtest
from tests.fixtures.fleet import EventDesk
from tests.fixtures.issuance import K, NoDelayMosquitto, born_federation

EPOCH = 1
WAIT = 120
APP = """def step(emit):
    for i in range(3):
        emit(0x80, b"reading %d" % i)
"""


class Recorder:
    def __init__(self):
        self.events: list[dict] = []
        self.q: queue.Queue = queue.Queue()
        self.cpu: list[float] = []  # cumulative child CPU ms at each boot's end
        self.cpu0 = self._now()

    @staticmethod
    def _now() -> float:
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return (r.ru_utime + r.ru_stime) * 1000

    def __call__(self, e: dict) -> None:
        if e["event"] == "board-end":
            self.cpu.append(self._now())
        self.q.put(e)

    def until(self, pred, timeout: float = WAIT) -> dict:
        while True:
            e = self.q.get(timeout=timeout)
            self.events.append(e)
            if e["event"] == "failure" and "memory" in str(e.get("detail", "")):
                raise MemoryError(e["detail"])
            if e["event"] == "output" and "MemoryError" in e.get("line", ""):
                # Out of heap outside the agent's loop (a boot stage): the VM's traceback.
                raise MemoryError(e["line"])
            if pred(e):
                return e

    def named(self, name: str, since: int = 0) -> list[dict]:
        return [e for e in self.events[since:] if e["event"] == name]


class Federation:
    def __init__(self, work: Path):
        self.work = work
        self.node = regtest.RegtestNode(work / "node").start()
        self.chain = Regtest(self.node)
        self.chain.mine(regtest.SEGWIT_HEIGHT)
        self.chain.prefund(4)
        self.broker = NoDelayMosquitto(work / "broker").start()
        self.fed = born_federation(work / "fed", self.broker, self.chain, 3)
        self.n = 0

    def config(self, trace: bool = True, **extra) -> dict:
        """The device's config; trace: the memory trace on (a collection before every console
        line: the figures, at the cost of a heap the device would not have as it is)."""
        p = self.fed.provisioning
        cfg = {"mqtt_host": self.broker.host, "mqtt_port": self.broker.port,
               "topic_prefix": self.fed.prefix, "dta_ids": [i.hex() for i in p.dta_ids],
               "network": p.network, "confirmations": K,
               "checkpoint_height": p.checkpoint_height,
               "checkpoint_header": p.checkpoint_header.hex(), "epoch": EPOCH,
               "reply_timeout_ms": 1500, "memory_trace": trace}
        cfg.update(extra)
        return cfg

    def device(self, bundle, heap: str) -> tuple[EmulatedDevice, bytes]:
        """A fresh device, its hello seen and enrolled by every D-TA."""
        self.n += 1
        root = self.work / f"dev{self.n}"
        shutil.rmtree(root, ignore_errors=True)
        dev = EmulatedDevice(root)
        dev.flash(bundle)
        dev.configure(mqtt_port=self.broker.port, topic_prefix=self.fed.prefix, once=True)
        run = dev.run()
        if run.returncode != 0:
            raise SystemExit(run.output)
        kid = run.first("identity")["key_id"]
        for ev in self.fed.events:
            ev.wait_for(lambda evs: any(e.kind == "hello-registered" and
                                        e.fields.get("key_id") == kid for e in evs))
        for svc in self.fed.services:
            svc.enroll(kid)
        dev.heapsize = heap
        (dev.root / "lib" / "dtanode_app.py").write_text(APP)
        return dev, bytes.fromhex(kid)

    def anchor(self) -> None:
        for svc in self.fed.services:
            svc.anchor_round()
        self.chain.mine(K)
        for svc in self.fed.services:
            svc.anchor_round()

    def desk(self, dev) -> EventDesk:
        key = backend.pubkey((dev.root / "key.bin").read_bytes()[6:38])
        return EventDesk(self.broker, self.fed.prefix, self.fed.secrets[0].signer,
                         self.fed.dta_ids[0][:8], {wire.key_id(key): key})

    def close(self) -> None:
        self.fed.close()
        self.broker.stop()
        self.node.stop()


def first_boot(fed: Federation, bundle, heap: str, trace: bool = True) -> dict | None:
    """Boot to combined shares in `heap`; -> its figures, or None when the heap was short."""
    dev, _ = fed.device(bundle, heap)
    dev.configure(**fed.config(trace))
    rec = Recorder()
    board = EmulatedBoard(dev, rec).start()
    try:
        combined = rec.until(lambda e: e["event"] == "shares-combined")
    except (MemoryError, queue.Empty):
        return None
    finally:
        board.stop()
    return {"trusted": rec.named("trusted"), "handshakes": rec.named("handshake"),
            "combined": combined, "peak": max(e.get("peak", 0) for e in rec.events),
            "at": _peak_line(rec.events)}


def _peak_line(events: list[dict]) -> str:
    """Where the memory trace saw its peak: the console event and its D-TA."""
    top = max((e for e in events if "mem" in e), key=lambda e: e["mem"], default=None)
    if top is None:
        return "?"
    return top["event"] + (f" (D-TA {top['dta']})" if "dta" in top else "")


def cycles(fed: Federation, bundle, heap: str, n: int, trace: bool = True) -> dict:
    """The first boot, n plain wakes, then the checkpoints anchored and the receipt wake."""
    dev, _ = fed.device(bundle, heap)
    dev.configure(**fed.config(trace, sleep_period_s=1))
    desk = fed.desk(dev)
    rec = Recorder()
    board = EmulatedBoard(dev, rec).start()
    try:
        try:
            for _ in range(n + 1):
                rec.until(lambda e: e["event"] == "board-end")
            fed.anchor()
            while not rec.named("receipt"):
                rec.until(lambda e: e["event"] == "board-end")
        finally:
            board.stop()
        logged, deliveries = len(desk.logged), desk.deliveries  # read from the desk's open log
    finally:
        desk.close()
    peaks = []  # per boot: (peak in use, where), from the memory trace
    for e in rec.events:
        if e["event"] == "board":
            peaks.append((0, "?"))
        elif "mem" in e and peaks and e["mem"] > peaks[-1][0]:
            peaks[-1] = (e["mem"], _peak_line([e]))
    return {"events": rec.events, "cpu": rec.cpu, "cpu0": rec.cpu0, "logged": logged,
            "deliveries": deliveries, "peaks": peaks}
