"""Write-ahead issuance under SIGKILL: a D-TA process serves share requests from host-side
devices over the real mosquitto and is killed at random points of its issuance, many times,
and restarted each time. After every kill the reopened log holds, for every share a device
received, its ShareIssued entry (subject, epoch, public share, at the statement's index), and
every entry the D-TA acknowledged as logged; no (subject, epoch) has two entries, however the
devices retried and whatever the broker redelivered.

The child prints a line when an entry is durable ("share-logged"), when a share went out
("share-issued") and for each handshake; the parent reads a random number of those lines and
kills the child wherever it is by then: the moment comes from the child's own progress, with
no sleeps. The devices' timeouts are the protocol's retransmission timer."""

import os
import random
import signal
import subprocess
import sys
import threading

from dta.config import Config, LogConfig, MqttConfig
from dta.issuance import DeviceClient, DeviceLink, NoAnswer, PeerRefused, Provisioning
from dta.issuance.service import AuthorityService
from dta.log import LogStore
from dta.services.paths import FIRMWARE_DIR, REPO_DIR
from dtacore import backend, entries, wire
from tests.fixtures.issuance import make_secrets

KILLS = 15
DEVICES = 4
PREFIX = "crash/v1"

CHILD = r"""
import sys, threading
from pathlib import Path
from dta.authority.identity import Secrets
from dta.config import Config, LogConfig, MqttConfig
from dta.issuance import AuthorityService, IssuanceSettings
from dta.signing import Signer
from dtacore import birth

root, host, port, prefix, secrets_file = sys.argv[1:6]
master, ident, record = (bytes.fromhex(x) for x in Path(secrets_file).read_text().split())
secrets = Secrets(master, Signer(ident), birth.decode(record))
cfg = Config(data_dir=Path(root), mqtt=MqttConfig(host=host, port=int(port), topic_prefix=prefix),
             log=LogConfig(origin="crash.test/log"))
svc = AuthorityService.open(cfg, secrets, settings=IssuanceSettings(shares_per_window=10**6,
                                                                    anchor_interval=0))

lock = threading.Lock()

def say(e):  # one write per line, under a lock: worker threads print concurrently
    f = e.fields
    with lock:
        sys.stdout.write("%s %s %s %s\n" % (e.kind, f.get("key_id"), f.get("epoch"),
                                            f.get("log_index")))
        sys.stdout.flush()

svc.listeners.append(say)
svc.start()
with lock:
    sys.stdout.write("ready\n")
    sys.stdout.flush()
threading.Event().wait()
"""


def config(root, broker) -> Config:
    return Config(data_dir=root, mqtt=MqttConfig(host=broker.host, port=broker.port,
                                                 topic_prefix=PREFIX),
                  log=LogConfig(origin="crash.test/log"))


class Devices:
    """Devices asking for share after share (epoch 1, 2, ...), riding out the D-TA's deaths:
    what each one received is kept for the checks."""

    def __init__(self, broker, dta_id, identity_pubkey, secrets):
        self.received = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.clients = []
        prov = Provisioning((dta_id,), "regtest", 1, 0, bytes(80))
        for secret in secrets:
            kid = wire.key_id(backend.pubkey(secret))
            link = DeviceLink(broker.host, broker.port, PREFIX, kid).start()
            c = DeviceClient(secret, prov, link, timeout=0.5)
            c.pin(dta_id, identity_pubkey)
            self.clients.append(c)
        self.dta_id = dta_id
        self.threads = [threading.Thread(target=self._run, args=(c,), daemon=True)
                        for c in self.clients]

    def start(self):
        for t in self.threads:
            t.start()

    def _run(self, c):
        epoch = 1
        while not self.stop.is_set():
            try:
                issued = c.request_share(self.dta_id, epoch)
            except (NoAnswer, PeerRefused):
                continue  # the D-TA is down or lost the session: ask again
            with self.lock:
                self.received.append((c.kid, issued))
            epoch += 1

    def close(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)
        for c in self.clients:
            c.link.stop()


def progress(line: str, acknowledged: list) -> None:
    kind, kid, epoch, index = (line.split() + [None] * 4)[:4]
    if kind == "share-logged" and line.endswith("\n"):  # not a line cut by the kill
        acknowledged.append((bytes.fromhex(kid), int(epoch), int(index)))


def check(db, received, acknowledged):
    with LogStore(db, origin="crash.test/log") as store:
        issued = {}
        for i in range(store.size):
            e = entries.decode(store.entry(i))
            if isinstance(e, entries.ShareIssued):
                key = (e.subject, e.epoch)
                assert key not in issued, f"a second entry for {key}: {issued[key]} and {i}"
                issued[key] = (i, e.public_share)
        for kid, share in received:
            assert issued.get((kid, share.epoch)) == (share.log_index,
                                                      share.statement.public_share)
            assert backend.pubkey(share.share) == share.statement.public_share
        for kid, epoch, index in acknowledged:
            assert issued[(kid, epoch)][0] == index


def test_sigkill_during_issuance_never_delivers_a_share_without_its_entry(tmp_path,
                                                                          issuance_broker):
    rnd = random.Random(int.from_bytes(os.urandom(4), "big"))
    root = tmp_path / "dta"
    secrets = make_secrets("crash")
    device_secrets = [os.urandom(32) for _ in range(DEVICES)]
    with AuthorityService.open(config(root, issuance_broker), secrets) as svc:
        dta_id, pub = svc.dta_id, svc.identity_pubkey
        for s in device_secrets:
            svc.provision(backend.pubkey(s), "host")
    secrets_file = tmp_path / "secrets.hex"
    secrets_file.write_text(" ".join(x.hex() for x in (
        secrets.master_secret, secrets.signer._secret, secrets.record)))
    os.chmod(secrets_file, 0o600)
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(FIRMWARE_DIR), str(REPO_DIR / "host")]))
    devices = Devices(issuance_broker, dta_id, pub, device_secrets)
    acknowledged = []
    try:
        for round_ in range(KILLS + 1):
            err = open(tmp_path / f"child-{round_}.err", "w")
            child = subprocess.Popen([sys.executable, str(script), str(root),
                                      issuance_broker.host, str(issuance_broker.port), PREFIX,
                                      str(secrets_file)], stdout=subprocess.PIPE, stderr=err,
                                     env=env, text=True)
            while (line := child.stdout.readline()).strip() != "ready":
                # frames queued for the D-TA's session are handled as soon as it subscribes
                assert line, (tmp_path / f"child-{round_}.err").read_text()
                progress(line, acknowledged)
            if round_ == 0:
                devices.start()
            if round_ == KILLS:  # the last one lives: every device finishes its request
                break
            lines = [child.stdout.readline() for _ in range(rnd.randrange(1, 40))]
            child.send_signal(signal.SIGKILL)
            lines += child.stdout.readlines()  # printed before it died: acknowledgements too
            assert child.wait() == -signal.SIGKILL
            err.close()
            for line in lines:
                progress(line, acknowledged)
            with devices.lock:
                received = list(devices.received)
            check(root / "log.sqlite3", received, acknowledged)
        with devices.lock:
            before = len(devices.received)
        target = before + DEVICES  # each device gets one more share from the last D-TA
        while True:
            line = child.stdout.readline()
            progress(line, acknowledged)
            with devices.lock:
                if len(devices.received) >= target or not line:
                    break
        devices.close()
        child.send_signal(signal.SIGKILL)
        child.wait()
        check(root / "log.sqlite3", devices.received, acknowledged)
    finally:
        devices.stop.set()
        if child.poll() is None:
            child.kill()
    assert acknowledged and len(devices.received) > DEVICES
