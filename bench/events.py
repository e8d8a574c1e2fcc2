"""Device events through one gateway into its D-TA's log (issue 12: at least 5,000 events/s
durably in the log through one gateway, with 1,000 host-side clients).

One mosquitto; one gateway (dta.gateway.Gateway with its D-TA's dta.log.Log, in its own
process, log on disk with fsync on every commit); 1,000 devices, each its own MQTT connection
(paho, driven by one selector loop per client process), enrolled beforehand. Each device signs
its events before the clock starts (a device signs on its own CPU) and keeps WINDOW of them in
flight: it sends more as the gateway's EVENT_ACKs cover them (an ack covers every counter up
to its own, as the firmware's outbox takes it). Timed from the first
event sent to the last ack received; then every ack is checked (the D-TA's identity key over
ack_digest, the device's id and counter), the gateway is stopped and the entries its log gained
are counted: the figure is events in the log, each acked, per second.

Peers measured in the same run:
- MQTT echo: the same 1,000 clients and broker, the gateway replaced by a paho client that
  sends a 90-byte reply to the device's ack topic for each event (no decoding, no registry, no
  verification, no log): what one Python subscriber moves through this broker;
- raw SQLite: the same entry bytes inserted into a plain table (WAL, synchronous=FULL), in
  transactions of the gateway's mean batch size: the storage alone.

    .venv/bin/python -m bench events        (from the repository root; ~1 min)
"""

from __future__ import annotations

import json
import os
import selectors
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dta.config import Config, LogConfig, MqttConfig
from dta.services.mosquitto import Mosquitto
from dta.services.paths import FIRMWARE_DIR, REPO_DIR

DEVICES = int(os.environ.get("DTA_BENCH_DEVICES", 1000))
EVENTS = int(os.environ.get("DTA_BENCH_EVENTS", 20))  # per device
WINDOW = int(os.environ.get("DTA_BENCH_WINDOW", 4))  # events a device has sent and not seen acked
CLIENT_PROCESSES = 2  # one interpreter lock each; 500 connections each
TARGET = 5000
PREFIX = "bench/v1"
PAYLOAD = b"temperature 21.5 C"
RUN_TIMEOUT = 600.0


class BenchMosquitto(Mosquitto):
    """The fleet broker, with room for a fleet's worth of QoS 1 frames in flight to the
    gateway (it acknowledges each event only once the log holds it: docs/operations.md)."""

    def _config(self) -> str:
        return super()._config() + "max_inflight_messages 5000\nmax_queued_messages 100000\n"


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(FIRMWARE_DIR), str(REPO_DIR / "host"),
                                                         str(REPO_DIR)]))


def _child(call: str) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", f"import bench.events as b; b.{call}"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=_env(),
                         cwd=str(REPO_DIR))
    line = p.stdout.readline().strip()
    if line != "ready":
        raise SystemExit(f"bench child {call[:40]} did not start: {line!r}")
    return p


def _finish(p: subprocess.Popen, say: str = "stop") -> dict:
    out, _ = p.communicate(say + "\n", timeout=RUN_TIMEOUT)
    return json.loads(out.strip().splitlines()[-1])


def make_secrets(name: str):
    from dta.authority.identity import Secrets
    from dta.signing import Signer
    from dtacore import birth

    master, signer = os.urandom(32), Signer.generate()
    return Secrets(master, signer, birth.BirthRecord(
        name, signer.public_key, birth.master_commitment(master), os.urandom(32), "dta/bench",
        "regtest", 1_700_000_000))


def _config(root: str, host: str, port: int) -> Config:
    return Config(data_dir=Path(root),
                  mqtt=MqttConfig(host=host, port=port, topic_prefix=PREFIX),
                  log=LogConfig(origin="bench.test/log", window_seconds=3600))


# -- the gateway's process ----------------------------------------------------------------------

def _gateway(root: str, host: str, port: int, secret_hex: str, dta_id_hex: str) -> None:
    import logging

    from dta.gateway.registry import Registry
    from dta.gateway.service import Gateway
    from dta.log import Log
    from dta.signing import Signer
    logging.getLogger("dta").setLevel(logging.ERROR)  # a full queue's warning is expected here
    cfg = _config(root, host, port)
    log = Log.open(cfg, Signer(bytes.fromhex(secret_hex)))
    registry = Registry(cfg.registry_db)
    gw = Gateway(cfg, registry, dta_id=bytes.fromhex(dta_id_hex), log=log)
    gw.start()
    print("ready", flush=True)
    while True:  # "mark" -> the figures so far; "stop" -> the same, then stop
        line = sys.stdin.readline().strip()
        if line == "stop" or not line:
            gw.stop()
        print(json.dumps({"counts": gw.intake.counts, "batches": gw.intake.batches,
                          "refused": registry.rejections(), "size": log.store.size,
                          "cpu": time.process_time()}), flush=True)
        if line == "stop" or not line:
            break
    registry.close()
    log.store.close()


def _echo(host: str, port: int) -> None:
    import paho.mqtt.client as mqtt

    reply = os.urandom(90)
    at = len(PREFIX) + len("/event/")

    def on_message(c, u, msg):
        c.publish(f"{PREFIX}/ack/{msg.topic[at:]}", reply, qos=1)

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-echo")
    c.max_inflight_messages_set(1000)
    c.on_message = on_message
    c.on_connect = lambda cl, *a: cl.subscribe(f"{PREFIX}/event/+", 1)
    c.on_subscribe = lambda *a: print("ready", flush=True)
    c.connect(host, port)
    c.loop_start()
    sys.stdin.readline()
    c.loop_stop()
    print(json.dumps({}), flush=True)


# -- the devices' processes ---------------------------------------------------------------------

class _Device:
    def __init__(self, secret: bytes, events: int, offset: int, sign: bool):
        from dtacore import backend, channel, entries, wire

        self.pubkey = backend.pubkey(secret)
        self.kid = wire.key_id(self.pubkey)
        self.topic = channel.event_topic(PREFIX, self.kid)
        self.frames = []
        for i in range(offset, offset + events):
            sig = (backend.sign(secret, entries.event_digest(self.pubkey, i, 0x80, PAYLOAD))
                   if sign else bytes(64))
            self.frames.append(channel.event_frame(self.kid, i, 0x80, PAYLOAD, sig))
        self.sent = 0
        self.covered = 0  # events acknowledged: an ack covers every counter up to its own
        self.acks: list[bytes] = []
        self.client = None


def _clients(host: str, port: int, keys_file: str, first: int, count: int, events: int,
             offset: int, window: int, mode: str, dta_key_hex: str) -> None:
    import paho.mqtt.client as mqtt

    from dtacore import backend, channel

    keys = Path(keys_file).read_text().split()[first:first + count]
    devices = [_Device(bytes.fromhex(k), events, offset, mode == "gateway") for k in keys]
    sel = selectors.DefaultSelector()
    dirty: set = set()
    subscribed = [0]
    state = {"last": 0.0, "acked": 0}
    cumulative = mode == "gateway"  # the echo replies once per event

    def send(d: _Device) -> None:
        d.client.publish(d.topic, d.frames[d.sent], qos=1)
        d.sent += 1
        dirty.add(d.client)

    def on_message(c, d, msg):
        ack = msg.payload
        d.acks.append(ack)
        # As the device's outbox takes it (checked after the clock): up to this counter.
        upto = int.from_bytes(ack[14:18], "big") + 1 - offset if cumulative else d.covered + 1
        new = upto - d.covered
        if new <= 0:
            return
        d.covered = upto
        state["acked"] += new
        state["last"] = time.monotonic()
        for _ in range(min(new, len(d.frames) - d.sent)):
            send(d)

    for d in devices:
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, userdata=d)
        c.on_message = on_message
        c.on_connect = lambda cl, dev, *a: cl.subscribe(channel.ack_topic(PREFIX, dev.kid), 1)
        c.on_subscribe = lambda *a: subscribed.__setitem__(0, subscribed[0] + 1)
        c.connect(host, port, keepalive=120)
        d.client = c
        sel.register(c.socket(), selectors.EVENT_READ, c)

    def pump(timeout: float) -> None:
        for key, _ in sel.select(timeout):
            key.data.loop_read()
        for c in list(dirty):
            if c.want_write():
                c.loop_write()
        dirty.clear()

    while subscribed[0] < len(devices):
        for d in devices:
            if d.client.want_write():
                d.client.loop_write()
        pump(0.05)
    print("ready", flush=True)
    sys.stdin.readline()  # go
    t0, cpu0 = time.monotonic(), time.process_time()
    for d in devices:
        for _ in range(min(window, events)):
            send(d)
    total = count * events
    deadline = t0 + RUN_TIMEOUT
    misc = time.monotonic()
    while state["acked"] < total and time.monotonic() < deadline:
        pump(0.05)
        if time.monotonic() - misc > 5:
            misc = time.monotonic()
            for d in devices:
                d.client.loop_misc()
    t1, cpu = state["last"], time.process_time() - cpu0
    valid = 0
    if mode == "gateway":  # after the clock: every ack checked as the device checks it
        dta_key = bytes.fromhex(dta_key_hex)
        for d in devices:
            last, ok = offset - 1, True
            for ack in d.acks:
                kid, upto, _, sig = channel.decode_ack(ack)
                ok = ok and kid == d.kid and upto > last and backend.verify(
                    dta_key, channel.ack_digest(kid, upto), sig)
                last = upto
            valid += last + 1 - offset if ok else 0
    for d in devices:
        d.client.disconnect()
    print(json.dumps({"t0": t0, "t1": t1, "acked": state["acked"], "valid": valid,
                      "sent": sum(d.sent for d in devices),
                      "acks": sum(len(d.acks) for d in devices), "cpu": cpu}), flush=True)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _fleet_run(m, keys_file: Path, mode: str, window: int, offset: int = 0,
               dta_key: bytes = b"") -> dict:
    per = DEVICES // CLIENT_PROCESSES
    kids = [_child(f"_clients({m.host!r}, {m.port}, {str(keys_file)!r}, {i * per}, {per}, "
                   f"{EVENTS}, {offset}, {window}, {mode!r}, {dta_key.hex()!r})")
            for i in range(CLIENT_PROCESSES)]
    broker0 = _cpu_seconds(m.proc.pid)
    for k in kids:
        k.stdin.write("go\n")
        k.stdin.flush()
    res = [_finish(k, "") for k in kids]
    t0, t1 = min(r["t0"] for r in res), max(r["t1"] for r in res)
    return {"seconds": t1 - t0, "acked": sum(r["acked"] for r in res),
            "client_cpu": sum(r["cpu"] for r in res),
            "broker_cpu": _cpu_seconds(m.proc.pid) - broker0,
            "valid": sum(r["valid"] for r in res), "sent": sum(r["sent"] for r in res),
            "acks": sum(r["acks"] for r in res)}


# -- the runs -----------------------------------------------------------------------------------

def _enrol(root: Path, host: str, port: int, secrets, keys: list[bytes]) -> int:
    from dta.gateway import enrolment
    from dta.gateway.registry import Registry
    from dta.log import Log, LogStore
    from dtacore import backend

    cfg = _config(str(root), host, port)
    root.mkdir(parents=True, exist_ok=True)
    # Enrolment is set-up, not measured: its entries need not each wait for an fsync.
    store = LogStore(cfg.log_db, origin=cfg.log.origin, synchronous="OFF")
    log, registry = Log(store, secrets.signer), Registry(cfg.registry_db)
    for k in keys:
        enrolment.provision(registry, log.append, backend.pubkey(k), "bench")
    size = store.size
    registry.close()
    store.close()
    return size


def sqlite_peer(tmp: Path, n: int, batch: int) -> float:
    from dtacore import entries

    rows = [entries.DeviceEvent(os.urandom(1) + os.urandom(32), i, 0x80, PAYLOAD, os.urandom(64),
                                int(time.time() * 1000)).encode() for i in range(n)]
    db = sqlite3.connect(str(tmp / "peer.sqlite3"), isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE t(idx INTEGER PRIMARY KEY, data BLOB NOT NULL)")
    t = time.perf_counter()
    for i in range(0, n, batch):
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT INTO t VALUES (?, ?)", enumerate(rows[i:i + batch], i))
        db.execute("COMMIT")
    rate = n / (time.perf_counter() - t)
    db.close()
    return rate


def _mark(gw: subprocess.Popen, say: str = "mark") -> dict:
    gw.stdin.write(say + "\n")
    gw.stdin.flush()
    return json.loads(gw.stdout.readline())


def main() -> None:
    from dta.authority.identity import PublicFacts

    with tempfile.TemporaryDirectory(dir=os.environ.get("DTA_BENCH_DIR")) as tmp:
        tmp = Path(tmp)
        secrets = make_secrets("bench-events")
        dta_id = PublicFacts.of(secrets.birth).dta_id
        keys = [os.urandom(32) for _ in range(DEVICES)]
        keys_file = tmp / "keys.hex"
        keys_file.write_text("\n".join(k.hex() for k in keys))
        runs = {}
        with BenchMosquitto(tmp / "mq") as m:
            echo = _child(f"_echo({m.host!r}, {m.port})")
            peers = {w: _fleet_run(m, keys_file, "echo", w) for w in (EVENTS, WINDOW)}
            _finish(echo)
            base = _enrol(tmp / "dta", m.host, m.port, secrets, keys)
            gw = _child(f"_gateway({str(tmp / 'dta')!r}, {m.host!r}, {m.port}, "
                        f"{secrets.signer._secret.hex()!r}, {dta_id.hex()!r})")
            before = _mark(gw)
            for i, w in enumerate((EVENTS, WINDOW)):
                run = _fleet_run(m, keys_file, "gateway", w, i * EVENTS,
                                 secrets.signer.public_key)
                after = _mark(gw, "mark" if i == 0 else "stop")
                run.update(logged=after["size"] - before["size"], cpu=after["cpu"] - before["cpu"],
                           batches=after["batches"] - before["batches"])
                runs[w], before = run, after
        stats = before
        mean_batch = max(1, round(runs[EVENTS]["logged"] / max(1, runs[EVENTS]["batches"])))
        raw = sqlite_peer(tmp, runs[EVENTS]["logged"], mean_batch)
    report(peers, runs, stats, base, raw, mean_batch)


def _rate(run: dict, key: str = "logged") -> float:
    return run[key] / run["seconds"] if run["seconds"] > 0 else 0.0


def report(peers: dict, runs: dict, stats: dict, base: int, raw: float, batch: int) -> None:
    total = DEVICES * EVENTS
    print(f"Device events through one gateway ({os.cpu_count()} CPUs, shared by the broker, "
          f"the gateway and the clients): {DEVICES} devices, each on its own MQTT connection "
          f"(paho; {CLIENT_PROCESSES} client processes), {EVENTS} events each per run, signed "
          f"before the clock started; log on disk, fsync per transaction; "
          f"{stats['size'] - base:,} entries appended in all, "
          f"{stats['counts']['duplicate']} duplicates, refused {stats['refused'] or 'none'}")
    for w, label in ((EVENTS, "outbox flush (each device sends all its events at once, as the "
                              "firmware flushes its outbox)"),
                     (WINDOW, f"closed loop ({WINDOW} events in flight per device, the next "
                              "sent as acks come)")):
        run, peer = runs[w], peers[w]
        rate, echo = _rate(run), _rate(peer, "acked")
        per = 1e6 / max(1, run["logged"])
        print(f"  {label}:")
        print(f"    gateway: {rate:,.0f} events/s durably in the log and acked: "
              f"{run['logged']:,} entries for {total:,} events sent in {run['seconds']:.2f} s, "
              f"{run['acks']:,} acks (one per device per transaction, covering its counters up "
              f"to its own) covering {run['acked']:,} events, {run['valid']:,} of them by acks "
              f"that check (D-TA key, id, rising counter); {run['batches']} transactions")
        print(f"    CPU per event: gateway {run['cpu'] * per:.0f} us, mosquitto "
              f"{run['broker_cpu'] * per:.0f} us, clients {run['client_cpu'] * per:.0f} us "
              f"(two cores give {2e6 / max(rate, 1):.0f} us per event at this rate)")
        print(f"    peer, MQTT echo (the gateway replaced by a paho client replying to each event: "
              f"no checks, no log): {echo:,.0f} events/s; the gateway runs at "
              f"{rate / echo:.2f}x it")
    flush = runs[EVENTS]
    rate = _rate(flush)
    print(f"  peer, raw SQLite (the outbox flush's entry bytes, {batch} a transaction, WAL, "
          f"synchronous=FULL, no MQTT, no checks): {raw:,.0f} rows/s; the gateway runs at "
          f"{rate / raw:.3f}x it")
    ok = all(r["logged"] == total == r["valid"] for r in runs.values())
    verdict = "meets" if rate >= TARGET and ok else "misses"
    print(f"  target >= {TARGET:,} events/s (outbox flush) with every event logged once and "
          f"acked: {rate:,.0f}/s, {verdict}")
