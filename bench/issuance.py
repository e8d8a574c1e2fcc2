"""Issuance benchmark (issues 11 and 12, the D-TA's side): full handshakes per second on one
core, and the share issuance round trip through mosquitto with 100 concurrent host-side
devices, the handshake included (full, and resumed), p50 and p99.

1. Handshakes, one core (the process pinned to one CPU), CPython with coincurve: a device's
   Initiator against AuthorityService.handle, the D-TA's whole path (registry lookup, ticket
   written to its SQLite table) but no transport. Peer in the same run: coincurve's primitives
   alone for both sides (keygen, ECDH, sign, verify each).
2. Round trips: one D-TA in its own process (log on disk, fsync on every commit), 100
   DeviceClients in CLIENT_PROCESSES processes (one interpreter lock each), each on its own
   MQTT connection, every request a new epoch
   (a new ShareIssued entry, a checkpoint, the statement, the receipt, the voucher: the whole
   issuance). Each device starts its requests as a Poisson process (exponential gaps, mean
   100 / RATE s, so RATE requests per second over the 100 devices) and the round trip is
   timed from the scheduled start (a request waiting for the device's previous one counts its
   wait) to the last message checked. Then saturation: every device in a closed loop, no gap.
   Peer in the same run, on the same broker: a bare MQTT request/response echo (a paho client
   in its own process sends each request back), 100 devices, the same arrivals: the floor any
   exchange through this broker pays per round trip (a resumed issuance is 2 round trips, a
   full one 3).
   Both on a broker configured as dta.services.mosquitto does, and with set_tcp_nodelay true.

    .venv/bin/python -m bench issuance        (from the repository root; ~2 min)
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from dta.config import Config, LogConfig, MqttConfig
from dta.issuance import AuthorityService, DeviceClient, DeviceLink, Provisioning
from dta.services.mosquitto import Mosquitto
from dta.services.paths import FIRMWARE_DIR, REPO_DIR
from dtacore import backend, wire

DEVICES = 100
RATES = (20, 50, 100)  # requests per second over all devices
SECONDS = 6.0  # of arrivals per scenario
SATURATION_ROUNDS = 3
# The 100 devices run in this many processes (one interpreter lock each), 25 a process.
CLIENT_PROCESSES = 4
TARGET_P50_MS, TARGET_P99_MS = 20.0, 100.0
PREFIX = "bench/v1"
HANDSHAKES = 1500

DTA_CHILD = r"""
import sys, threading
from pathlib import Path
from dta.authority.identity import Secrets
from dta.config import Config, LogConfig, MqttConfig
from dta.issuance import AuthorityService, IssuanceSettings
from dta.signing import Signer
from dtacore import birth

root, host, port, prefix, secrets_file = sys.argv[1:6]
master, ident, record = (bytes.fromhex(x) for x in Path(secrets_file).read_text().split())
cfg = Config(data_dir=Path(root), mqtt=MqttConfig(host=host, port=int(port), topic_prefix=prefix),
             log=LogConfig(origin="bench.test/log"))
svc = AuthorityService.open(cfg, Secrets(master, Signer(ident), birth.decode(record)),
                            settings=IssuanceSettings(shares_per_window=10**6, anchor_interval=0,
                                                      workers=16))
svc.start()
print("ready", flush=True)
sys.stdin.read()
svc.close()
"""

ECHO_CHILD = r"""
import socket, sys
import paho.mqtt.client as mqtt
host, port, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ready = []
def on_connect(c, u, f, rc, p):
    c.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c.subscribe(prefix + "/echo/req/+", 1)
def on_message(c, u, msg):
    c.publish(prefix + "/echo/rep/" + msg.topic.rsplit("/", 1)[1], msg.payload, qos=1)
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-echo")
c.on_connect = on_connect
c.on_message = on_message
c.on_subscribe = lambda *a: print("ready", flush=True)
c.connect(host, port)
c.loop_start()
sys.stdin.read()
"""


class NoDelayMosquitto(Mosquitto):
    def _config(self) -> str:
        return super()._config() + "set_tcp_nodelay true\n"


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(FIRMWARE_DIR), str(REPO_DIR / "host"),
                                                         str(REPO_DIR)]))


def _child(script: Path, *args: str) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, str(script), *args], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True, env=_env())
    if p.stdout.readline().strip() != "ready":
        raise SystemExit(f"{script.name} did not start")
    return p


# -- 1. handshakes on one core ---------------------------------------------------------------

def handshakes_one_core(tmp: Path) -> dict:
    """Run in a child pinned to one CPU; -> figures per second."""
    out = subprocess.run([sys.executable, "-c", "import bench.issuance as b; b._handshakes("
                          f"{str(tmp)!r})"], capture_output=True, text=True, env=_env(),
                         cwd=str(REPO_DIR), timeout=600)
    if out.returncode != 0:
        raise SystemExit(out.stderr[-3000:])
    return dict((k, float(v)) for k, v in (line.split() for line in out.stdout.splitlines()))


def _handshakes(tmp: str) -> None:
    from dtacore.handshake import Initiator

    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    cfg = Config(data_dir=Path(tmp) / "hs", log=LogConfig(origin="bench.test/log"))
    svc = AuthorityService.open(cfg, make_secrets("bench-hs"))
    devices = []
    for _ in range(20):
        secret = os.urandom(32)
        svc.provision(backend.pubkey(secret), "bench")
        devices.append((secret, backend.pubkey(secret)))
    dta_key = svc.identity_pubkey
    start, dta_side = time.perf_counter(), 0.0
    for n in range(HANDSHAKES):
        secret, pub = devices[n % len(devices)]
        kid = wire.key_id(pub)
        i = Initiator(secret, pub, kid, os.urandom, lambda c, e: dta_key)
        m1 = i.start()
        t = time.perf_counter()
        [m2] = svc.handle(kid, m1)
        dta_side += time.perf_counter() - t
        m3 = i.receive(m2)
        t = time.perf_counter()
        m4 = svc.handle(kid, m3)[0]
        dta_side += time.perf_counter() - t
        i.receive(m4)
    total = time.perf_counter() - start
    svc.close()
    print("full_per_s", HANDSHAKES / total)
    print("dta_side_per_s", HANDSHAKES / dta_side)
    print("primitives_per_s", 1 / _primitives())


def _primitives() -> float:
    import coincurve

    keys = [os.urandom(32) for _ in range(2)]
    pubs = [coincurve.PrivateKey(k).public_key.format(True) for k in keys]
    digest = bytes(32)
    sig = coincurve.PrivateKey(keys[1]).sign(digest, hasher=None)
    n = 2000
    t = time.perf_counter()
    for _ in range(n):
        for k, peer in ((keys[0], pubs[1]), (keys[1], pubs[0])):
            e = coincurve.PrivateKey(os.urandom(32))
            e.public_key.format(True)
            coincurve.PublicKey(peer).multiply(e.secret)
            coincurve.PrivateKey(k).sign(digest, hasher=None)
            coincurve.PublicKey(pubs[1]).verify(sig, digest, hasher=None)
    return (time.perf_counter() - t) / n


# -- 2. round trips through mosquitto ----------------------------------------------------------

def _percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] * 1000


def _arrivals(rate: float, clients: int, rnd: random.Random) -> list[list[float]]:
    """Per client, its scheduled start offsets (s): a Poisson process of rate / clients."""
    out = []
    for _ in range(clients):
        t, mine = rnd.expovariate(rate / clients), []
        while t < SECONDS:
            mine.append(t)
            t += rnd.expovariate(rate / clients)
        out.append(mine)
    return out


def _drive(workers: list, arrivals: list[list[float]] | None, t0: float, one) -> list[float]:
    """Each worker runs one(worker) at its scheduled times after t0 (wall clock), or
    SATURATION_ROUNDS times back to back (arrivals None); -> round trips (s), each from its
    scheduled start (a request waiting for the device's previous one counts the wait)."""
    lat, lock = [], threading.Lock()
    base = time.perf_counter() + (t0 - time.time())

    def run(w, times):
        if times is None:
            time.sleep(max(0.0, base - time.perf_counter()))
        for at in (times if times is not None else [None] * SATURATION_ROUNDS):
            start = time.perf_counter() if at is None else base + at
            if start > time.perf_counter():
                time.sleep(start - time.perf_counter())  # the arrival schedule
            one(w)
            with lock:
                lat.append(time.perf_counter() - start)
    schedule = arrivals if arrivals is not None else [None] * len(workers)
    threads = [threading.Thread(target=run, args=(w, a)) for w, a in zip(workers, schedule,
                                                                         strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return lat


class EchoClient:
    def __init__(self, host: str, port: int, name: str):
        import queue

        import paho.mqtt.client as mqtt

        from dta.broker import no_delay

        self.q: queue.Queue = queue.Queue()
        self.req = f"{PREFIX}/echo/req/{name}"
        done = threading.Event()
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-echo-{name}")
        c.on_connect = lambda cl, u, f, rc, p: (no_delay(cl),
                                                cl.subscribe(f"{PREFIX}/echo/rep/{name}", 1))
        c.on_subscribe = lambda *a: done.set()
        c.on_message = lambda cl, u, m: self.q.put(m.payload)
        c.connect(host, port)
        c.loop_start()
        done.wait(10)
        self.c = c

    def round_trip(self) -> None:
        self.c.publish(self.req, bytes(120), qos=1)
        self.q.get(timeout=60)

    def stop(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def _clients() -> None:
    """A client process: its share of the devices (and of the echo clients); scenarios come as
    JSON lines on stdin, latencies go back as JSON lines on stdout."""
    import json

    conf = json.loads(sys.stdin.readline())
    dta_id, dta_key = bytes.fromhex(conf["dta_id"]), bytes.fromhex(conf["dta_key"])
    prov = Provisioning((dta_id,), "regtest", 1, 0, bytes(80))
    devices = []
    for k in (bytes.fromhex(h) for h in conf["secrets"]):
        link = DeviceLink(conf["host"], conf["port"], PREFIX, wire.key_id(backend.pubkey(k)))
        c = DeviceClient(k, prov, link.start(), timeout=60)
        c.pin(dta_id, dta_key)
        c.connect(dta_id, resume=False)  # a ticket each
        c.epoch = 0
        devices.append(c)
    echoes = [EchoClient(conf["host"], conf["port"], f"{conf['proc']}-{i}")
              for i in range(len(devices))]
    print("ready", flush=True)

    def issue(resume):
        def one(c):
            c.epoch += 1
            c.connect(dta_id, resume=resume)
            c.request_share(dta_id, c.epoch)
        return one
    for line in sys.stdin:
        job = json.loads(line)
        rnd = random.Random(job["seed"])
        arrivals = (None if job["rate"] is None
                    else _arrivals(job["rate"], conf["devices"], rnd)[conf["first"]:
                                                                      conf["first"]
                                                                      + len(devices)])
        if job["kind"] == "echo":
            lat = _drive(echoes, arrivals, job["t0"], EchoClient.round_trip)
        else:
            lat = _drive(devices, arrivals, job["t0"], issue(job["kind"] == "resumed"))
        print(json.dumps({"lat": lat, "end": time.time()}), flush=True)
    for c in devices:
        c.link.stop()
    for e in echoes:
        e.stop()


def make_secrets(name: str):
    from dta.authority.identity import Secrets
    from dta.signing import Signer
    from dtacore import birth

    master, signer = os.urandom(32), Signer.generate()
    return Secrets(master, signer, birth.BirthRecord(
        name, signer.public_key, birth.master_commitment(master), os.urandom(32), "dta/bench",
        "regtest", 1_700_000_000))


def _start_dta(root: Path, m) -> tuple[subprocess.Popen, bytes, bytes, list[bytes]]:
    secrets = make_secrets("bench")
    cfg = Config(data_dir=root, mqtt=MqttConfig(host=m.host, port=m.port, topic_prefix=PREFIX),
                 log=LogConfig(origin="bench.test/log"))
    keys = [os.urandom(32) for _ in range(DEVICES)]
    with AuthorityService.open(cfg, secrets) as svc:
        for k in keys:
            svc.provision(backend.pubkey(k), "bench")
        dta_id, dta_key = svc.dta_id, svc.identity_pubkey
    secrets_file = root / "secrets.hex"
    secrets_file.write_text(" ".join(x.hex() for x in (secrets.master_secret,
                                                       secrets.signer._secret, secrets.record)))
    os.chmod(secrets_file, 0o600)
    script = root / "authority_child.py"  # not dta.py: it would shadow the package
    script.write_text(DTA_CHILD)
    return (_child(script, str(root), m.host, str(m.port), PREFIX, str(secrets_file)), dta_id,
            dta_key, keys)


def broker_run(tmp: Path, broker_cls, label: str) -> dict:
    import json

    with broker_cls(tmp / f"mq-{label}") as m:
        echo_script = tmp / "echo_child.py"
        echo_script.write_text(ECHO_CHILD)
        echo = _child(echo_script, m.host, str(m.port), PREFIX)
        root = tmp / f"dta-{label}"
        root.mkdir()
        dta, dta_id, dta_key, keys = _start_dta(root, m)
        per = DEVICES // CLIENT_PROCESSES
        procs = []
        for n in range(CLIENT_PROCESSES):
            p = subprocess.Popen([sys.executable, "-c", "import bench.issuance as b; "
                                  "b._clients()"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 text=True, env=_env(), cwd=str(REPO_DIR))
            p.stdin.write(json.dumps({"host": m.host, "port": m.port, "dta_id": dta_id.hex(),
                                      "dta_key": dta_key.hex(), "proc": n, "first": n * per,
                                      "devices": DEVICES,
                                      "secrets": [k.hex() for k in keys[n * per:(n + 1) * per]]})
                          + "\n")
            p.stdin.flush()
            procs.append(p)
        for p in procs:
            if p.stdout.readline().strip() != "ready":
                raise SystemExit("a client process did not start")
        results = {}
        jobs = [("echo", r) for r in RATES] + [(k, r) for k in ("resumed", "full")
                                               for r in RATES + (None,)]
        for seed, (kind, rate) in enumerate(jobs):
            t0 = time.time() + 0.3
            for p in procs:
                p.stdin.write(json.dumps({"kind": kind, "rate": rate, "seed": seed,
                                          "t0": t0}) + "\n")
                p.stdin.flush()
            answers = [json.loads(p.stdout.readline()) for p in procs]
            results[(kind, rate)] = [x for a in answers for x in a["lat"]]
            if rate is None:
                results[(kind, "throughput")] = (len(results[(kind, rate)])
                                                 / (max(a["end"] for a in answers) - t0))
        for p in procs + [dta, echo]:
            p.stdin.close()
            p.wait()
    return results


def fsync_ms(tmp: Path) -> float:
    path = tmp / "fsync.probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    t = time.perf_counter()
    for _ in range(50):
        os.write(fd, b"x" * 64)
        os.fsync(fd)
    out = (time.perf_counter() - t) / 50 * 1000
    os.close(fd)
    return out


def main() -> None:
    with tempfile.TemporaryDirectory(dir=os.environ.get("DTA_BENCH_DIR")) as tmp:
        tmp = Path(tmp)
        hs = handshakes_one_core(tmp)
        disk = fsync_ms(tmp)
        runs = {"fleet broker (as dta.services.mosquitto configures it)":
                broker_run(tmp, Mosquitto, "default"),
                "broker with set_tcp_nodelay true": broker_run(tmp, NoDelayMosquitto, "nodelay")}
    report(hs, disk, runs)


def report(hs: dict, disk: float, runs: dict) -> None:
    print(f"Handshakes, one core, CPython + coincurve ({os.cpu_count()} CPUs here, one used):")
    print(f"  full handshakes, both sides, the D-TA's whole path: {hs['full_per_s']:,.0f}/s")
    print(f"  the D-TA's side alone:                               {hs['dta_side_per_s']:,.0f}/s")
    print(f"  peer: coincurve's primitives alone, both sides:      "
          f"{hs['primitives_per_s']:,.0f}/s  (the handshakes run at "
          f"{hs['full_per_s'] / hs['primitives_per_s']:.2f}x)")
    print(f"Share issuance round trips, {DEVICES} devices on their own MQTT connections, one "
          f"D-TA process, fsync of its disk {disk:.1f} ms; targets p50 <= {TARGET_P50_MS:g} ms, "
          f"p99 <= {TARGET_P99_MS:g} ms")
    for label, res in runs.items():
        print(f"  {label}:")
        for rate in RATES:
            e50, e99 = _percentile(res[("echo", rate)], .5), _percentile(res[("echo", rate)], .99)
            print(f"    {rate}/s arrivals: peer (MQTT echo, 1 round trip) p50 {e50:.1f} ms, "
                  f"p99 {e99:.1f} ms")
            for mode in ("resumed", "full"):
                lat = res[(mode, rate)]
                p50, p99 = _percentile(lat, .5), _percentile(lat, .99)
                verdict = "meets" if p50 <= TARGET_P50_MS and p99 <= TARGET_P99_MS else "misses"
                print(f"      {mode:8s} handshake + share: p50 {p50:6.1f} ms ({p50 / e50:4.1f}x "
                      f"the echo), p99 {p99:6.1f} ms ({p99 / e99:4.1f}x); {verdict} the "
                      f"targets ({len(lat)} issuances)")
        for mode in ("resumed", "full"):
            lat = res[(mode, None)]
            print(f"    saturation, closed loop, {mode}: {res[(mode, 'throughput')]:,.0f} "
                  f"issuances/s, p50 {_percentile(lat, .5):.1f} ms, p99 "
                  f"{_percentile(lat, .99):.1f} ms")
