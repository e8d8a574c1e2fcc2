"""The main job: a whole D-TA federation on one machine, on embedded defaults, narrated.

Everything lives under the demo's directory (`<data dir>/demo`):

  devnet/       an authenticated mosquitto and a bcoin regtest node (dta.services.devnet: the
                fleet ACL's gateway, authority and device accounts, passwords in 0600 files),
                started for the demo and stopped with it; the chain stays on disk
  checkpoint.json  the block header the devices are provisioned with (before the first birth)
  dtas/dta-N/   three D-TAs (dta.demo.authorities), each born on that chain, k deep
  devices/      the emulated devices' flash: mqtt-1.. on MQTT, serial-1 on a serial line
  serial/       the serial cable (a socat PTY pair) between serial-1 and the gateway
  summary.json  the last run's summary

The gateway is D-TA 1's (dta.gateway.service.Gateway on D-TA 1's registry and log): it verifies
hellos on MQTT and on the serial line, logs the devices' signed events into D-TA 1's log and
acknowledges them with its key, and bridges the serial device's channel frames to the broker.
Each new device is approved on every D-TA automatically (the demo says so): the operator's
`dta devices enroll` on each, a DeviceEnrolled entry in each log. Then the devices check each
D-TA's birth themselves, run a handshake with each, take and combine their shares, and, once
the checkpoints holding their shares are anchored k deep, verify their receipts themselves.

A second run finds all of it: the same D-TAs (nothing is born again), the same devices (their
keys and all they verified are in their flash), the same combined keys (same subject, same
epoch); the devices resume their sessions and go on logging events, the D-TAs go on anchoring.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

from dta.anchor.address import p2wpkh_script
from dta.anchor.replies import COINBASE_MATURITY
from dta.anchor.store import FINAL
from dta.config import Config
from dta.datadir import DataDirLock
from dta.demo import chain, story, summary
from dta.demo.authorities import (
    ANCHOR_WINDOW,
    DEMO_NAME,
    ENV_NAME,
    DemoAuthority,
    Services,
)
from dta.demo.devices import MQTT, SERIAL, DemoDevice, Provisioning
from dta.demo.narration import Narrator
from dta.errors import DtaError, ServiceError
from dta.firmware.bundle import build
from dta.gateway.serial_link import SerialLink
from dta.gateway.service import Gateway
from dta.services.devnet import Devnet
from dta.services.mosquitto import AUTHORITY_USER, DEVICE_USER, GATEWAY_USER, write_secret
from dta.services.serial_pty import PtyPair

log = logging.getLogger("dta.demo")

AUTHORITIES = 3
# Seconds the D-TAs' births have to reach k confirmations (a few blocks of the block clock).
BIRTH_TIMEOUT = 120.0
# After the story: one line a minute says how anchoring goes on, instead of one per anchor.
RUNNING_REPORT = 60.0
SUMMARY_FILE = "summary.json"


class Fleet:
    def __init__(self, cfg: Config, workdir: Path, *, mqtt_devices: int, serial_devices: int,
                 say: Callable[[str], None]):
        self.cfg, self.workdir = cfg, Path(workdir)
        self.counts = (mqtt_devices, serial_devices)
        self._say_lock = threading.Lock()
        self._raw_say = say
        self.lock = DataDirLock(self.workdir, "demo")
        self.cond = threading.Condition()
        self.devnet: Devnet | None = None
        self.clock: chain.BlockClock | None = None
        self.authorities: list[DemoAuthority] = []
        self.devices: list[DemoDevice] = []
        self.gateway: Gateway | None = None
        self.serial: SerialLink | None = None
        self.pty: PtyPair | None = None
        self.narrator = Narrator(self.say, {})
        self.approvals: dict[str, dict[int, int]] = {}
        self.registered_by_dta1: set[str] = set()
        self.starts: list[int] = []
        self.ledger: story.Ledger | None = None
        self.story_done = False
        self.stopping = False
        self._anchored: set[tuple[int, int]] = set()
        self._quiet_anchors: dict[int, int] = {}
        self._last_report = 0.0
        self.t0 = time.monotonic()

    def say(self, line: str) -> None:
        with self._say_lock:
            if not self.stopping:
                self._raw_say(line)

    def announce(self, lines: list[str]) -> None:
        """Lines said together (the summary), with no narration in between."""
        with self._say_lock:
            for line in lines:
                self._raw_say(line)

    # -- start ---------------------------------------------------------------------------------

    def start(self, stop: threading.Event) -> None:
        """Services, D-TAs, births, gateway, devices; stops early (quietly) once `stop` is
        set."""
        self.lock.acquire()
        self._services()
        self._authorities()
        if self._births(stop):
            self._gateway()
            self._devices()

    def _services(self) -> None:
        self.devnet = Devnet(self.workdir, self.cfg.mqtt.topic_prefix)
        started = self.devnet.up()
        state = self.devnet.state()
        node = self.devnet.node()
        self.checkpoint = chain.checkpoint(self.workdir, node)
        how = "started for this demo" if started else "found running (an earlier demo left them)"
        self.say(f"services: mosquitto on mqtt://127.0.0.1:{state['broker']['port']}, "
                 f"authentication required (accounts {GATEWAY_USER}, {AUTHORITY_USER}, "
                 f"{DEVICE_USER}; passwords in {self.devnet.root}), and a bcoin regtest node on "
                 f"127.0.0.1:{state['node']['port']} at height {node.height()}: {how}, stopped "
                 "with it")
        self.say(f"chain: the devices are provisioned with block {self.checkpoint.height}'s "
                 "header: every birth they check links back to it")

    def _authorities(self) -> None:
        creds = self.devnet.credentials
        s = Services(self.devnet.state()["broker"]["port"], AUTHORITY_USER,
                     creds.authority_file, self.devnet.rpc_url(), self.devnet.cookie)
        self.authorities = [DemoAuthority(i, self.workdir / "dtas", self.cfg, s)
                            for i in range(1, AUTHORITIES + 1)]
        refused: list[bool] = []
        for a in self.authorities:
            a.open_secrets(lambda: refused.append(True))
            a.open_service(self.devnet.node())
            a.service.listeners.append(lambda ev, a=a: self._on_authority(a, ev))
            self.narrator.labels[a.service.dta8.hex()] = a.label
            self._say_authority(a)
        if refused:
            self.say(f"demo: {ENV_NAME} does not open the demo's D-TAs; "
                     f"{DEMO_NAME} they were made with did")
        self.starts = [a.service.log.store.size for a in self.authorities]
        self.ledger = story.Ledger([a.service.log.store for a in self.authorities], self.starts)
        self._fund()
        for a in self.authorities:
            self._anchored.update((a.index, r.step) for r in a.anchors() if r.state == FINAL)
            a.service.start()
        self.say(f"D-TAs: serving on the broker as {AUTHORITY_USER} (trust bundles, handshakes, "
                 "write-ahead share issuance, receipts), each closing a signed checkpoint every "
                 f"second and anchoring at most one every {ANCHOR_WINDOW} s")
        self.clock = chain.BlockClock(self.devnet.node(), self._all_anchors,
                                      on_tick=self._tick).start()

    def _say_authority(self, a: DemoAuthority) -> None:
        hint = "" if a.sealed_with == ENV_NAME else f" (set {ENV_NAME[1:]} to use your own)"
        how = "made" if a.created else "reopened"
        self.say(f"{a.label}: {how} '{a.name}', id {a.facts.dta_id.hex()[:16]}..., its own data "
                 f"directory {a.data_dir}, secrets sealed with {a.sealed_with}{hint}; its log "
                 f"holds {a.service.log.store.size} entries")

    def _fund(self) -> None:
        needy = [a for a in self.authorities if a.needs_funding()]
        if not needy:
            return
        node = self.devnet.node()
        coins = chain.fund(node, [p2wpkh_script(a.facts.identity_pubkey) for a in needy])
        for a, coin in zip(needy, coins, strict=True):
            a.service.anchorer.set_funding(coin)
        names = ", ".join(a.label for a in needy)
        self.say(f"chain: mined a coinbase to the identity key of {names} ({coins[0].value} sat "
                 f"each) and {COINBASE_MATURITY} blocks to mature it: each Birth Record's "
                 "transaction spends it, and every later anchor spends the one before")

    def _all_anchors(self) -> list:
        return [row for a in self.authorities for row in a.anchors()]

    def _births(self, stop: threading.Event) -> bool:
        found = all(a.birth() is not None for a in self.authorities)
        if not self.wait(lambda: all(a.birth() is not None for a in self.authorities),
                         BIRTH_TIMEOUT, stop):
            if stop.is_set():
                return False
            late = [a.label for a in self.authorities if a.birth() is None]
            raise ServiceError(f"the Birth Record of {', '.join(late)} is not {chain.K} deep "
                               f"after {BIRTH_TIMEOUT:.0f} s (the block clock: "
                               f"{self.clock.trouble or 'no error'}); `dta --data-dir "
                               f"{self.workdir} devnet status` shows the node")
        self._new_anchors()  # the births, said before the rest of the story
        if found:
            for a in self.authorities:
                row = a.birth()
                self.say(f"{a.label}: found born: its Birth Record's digest is in tx "
                         f"{row.txid}, block {row.height}, {chain.K}+ deep (nothing is born "
                         "again)")
        return True

    def _gateway(self) -> None:
        a1 = self.authorities[0]
        creds = self.devnet.credentials
        cfg = replace(a1.cfg, mqtt=replace(a1.cfg.mqtt, username=GATEWAY_USER,
                                           password_file=str(creds.gateway_file)))
        self.gateway = Gateway(cfg, registry=a1.service.registry, dta_id=a1.facts.dta_id,
                               log=a1.service.log)
        self.gateway.listeners.append(self._on_gateway)
        self.gateway.start()
        where = f"MQTT as {GATEWAY_USER}"
        if self.counts[1]:
            self.pty = PtyPair(self.workdir / "serial").start()
            self.serial = SerialLink(self.gateway, str(self.pty.gateway_end)).start()
            where += f" and the serial line {self.pty.gateway_end}"
        self.say(f"gateway of D-TA 1: verifies hellos on {where}, logs the devices' signed "
                 "events into D-TA 1's log and acknowledges them with its key, and bridges the "
                 "serial device's frames to the broker; new devices wait for approval")

    def _devices(self) -> None:
        if not sum(self.counts):
            return
        bundle = build("unix", self.workdir / "bundle-unix")
        creds = self.devnet.credentials
        prov = Provisioning(self.cfg.mqtt.topic_prefix, self.devnet.state()["broker"]["port"],
                            DEVICE_USER, creds.password(creds.device_file),
                            tuple(a.facts.dta_id for a in self.authorities), self.checkpoint)
        mqtt, serial = self.counts
        specs = [(f"mqtt-{i}", MQTT) for i in range(1, mqtt + 1)]
        specs += [(f"serial-{i}", SERIAL) for i in range(1, serial + 1)]
        new = []
        for name, transport in specs:
            dev = DemoDevice(name, self.workdir / "devices" / name, transport, self._on_device)
            if dev.flash(bundle):
                new.append(name)
            dev.configure(prov, str(self.pty.device_end) if transport == SERIAL else None)
            self.devices.append(dev)
        kept = [d.name for d in self.devices if d.name not in new]
        self.say(f"firmware: bundle for board 'unix' built ({len(bundle.files)} files, .mpy) "
                 f"and flashed onto {len(self.devices)} devices"
                 + (f"; new: {', '.join(new)} (each makes its own key at first boot)" if new
                    else "")
                 + (f"; {', '.join(kept)} keep their keys and all they verified" if kept
                    else ""))
        for dev in self.devices:
            dev.start()

    # -- listeners -----------------------------------------------------------------------------

    def _on_authority(self, a: DemoAuthority, event) -> None:
        if event.kind == "hello-registered":
            kid = event.fields.get("key_id", "")
            with self.cond:
                if a.index == 1:
                    self.registered_by_dta1.add(kid)
                if self.narrator.first("learnt", kid):
                    self.say(f"D-TAs: learnt the key of new device {kid} from its signed hello: "
                             "pending approval")
            # In the D-TA's strand for this device: approved before its next frame is handled.
            self._approve(kid, [a])
            return
        with self.cond:
            self.narrator.authority(a.label, event)
            self.cond.notify_all()

    def _on_gateway(self, event) -> None:
        if event.kind == "registered":
            with self.cond:
                self.narrator.gateway(event)
            self._approve(event.key_id, self.authorities)
            return
        if event.kind == "rejected" and event.reason == "replayed-boot" and \
                event.key_id in self.registered_by_dta1:
            with self.cond:
                first = self.narrator.first("gateway", "race", event.key_id)
            if first:
                self.say(f"gateway: took device {event.key_id}'s first hello for a replay: D-TA "
                         "1's service had just registered it from the same hello (they share "
                         "D-TA 1's registry); its next hello is taken")
            return
        with self.cond:
            self.narrator.gateway(event)
            if event.kind == "hello" and event.state == "pending":
                threading.Thread(target=self._approve, args=(event.key_id, self.authorities),
                                 daemon=True).start()
            self.cond.notify_all()

    def _on_device(self, dev: DemoDevice, ev: dict) -> None:
        with self.cond:
            dev.console.take(ev)
            self.narrator.device(dev, ev)
            self.cond.notify_all()

    def _approve(self, kid: str, authorities: list[DemoAuthority]) -> None:
        """The operator's part, done by the demo: enrol the device on each D-TA (its
        DeviceEnrolled entry in each log). A key from the gateway's registry is provisioned on
        a D-TA that has not seen its hello (the serial device's reach the D-TAs through the
        gateway)."""
        known = self.authorities[0].service.registry.get(kid)
        for a in authorities:
            try:
                dev = a.service.registry.get(kid)
                if dev is None and known is not None:
                    dev, _ = a.service.provision(known.pubkey, known.board)
                elif dev is not None:
                    dev, _ = a.service.enroll(kid)
            except DtaError as exc:
                self.say(f"demo: could not approve device {kid} on {a.label}: {exc}")
                continue
            if dev is not None and dev.enrolled_entry is not None:
                with self.cond:
                    self.approvals.setdefault(kid, {})[a.index] = dev.enrolled_entry
        with self.cond:
            done = self.approvals.get(kid, {})
            if len(done) == len(self.authorities) and self.narrator.first("approved", kid):
                self.narrator.approved(kid, done)

    def _tick(self) -> None:
        """After each look of the block clock: anchors that became final, then the story."""
        self._new_anchors()
        if time.monotonic() - self._last_report >= RUNNING_REPORT:
            self._running_report()
        with self.cond:
            self.cond.notify_all()

    def _new_anchors(self) -> None:
        for a in self.authorities:
            for row in a.anchors():
                with self.cond:
                    if row.state != FINAL or (a.index, row.step) in self._anchored:
                        continue
                    self._anchored.add((a.index, row.step))
                    if row.sequence is None:
                        self.narrator.anchored(a.label, row)
                    elif self.narrator.first("anchored", a.index):
                        self.narrator.anchored(a.label, row, first=True)
                    else:  # said in a line a minute
                        self._quiet_anchors[a.index] = self._quiet_anchors.get(a.index, 0) + 1

    def _running_report(self) -> None:
        self._last_report = time.monotonic()
        if not self._quiet_anchors:
            return
        done = ", ".join(f"D-TA {i}: {n}" for i, n in sorted(self._quiet_anchors.items()))
        self._quiet_anchors = {}
        self.say(f"chain: checkpoints anchored {chain.K} deep in the last minute ({done}); "
                 f"height {self.devnet.node().height()}")

    # -- the story -----------------------------------------------------------------------------

    def wait(self, predicate: Callable[[], bool], timeout: float,
             stop: threading.Event | None = None) -> bool:
        """Until predicate() holds (re-checked whenever something happened, and at least once
        a second), the timeout passes, or `stop` is set."""
        deadline = time.monotonic() + timeout
        while not predicate():  # outside the lock: it reads the stores, which take their own
            left = deadline - time.monotonic()
            if left <= 0 or (stop is not None and stop.is_set()):
                return False
            with self.cond:
                self.cond.wait(min(left, 1.0))
        return True

    def facts(self) -> list[dict]:
        """Every device's facts now (its console as of now, the logs as of now)."""
        with self.cond:
            consoles = [copy.deepcopy(d.console) for d in self.devices]
        self.ledger.scan()
        registry = self.authorities[0].service.registry
        return [story.device_facts(d, c, self.authorities, registry, self.ledger)
                for d, c in zip(self.devices, consoles, strict=True)]

    def wait_done(self, timeout: float, stop: threading.Event) -> bool:
        """Until every device has verified everything, or all it can (the rest failed for good:
        a receipt or a birth that did not check, a receipt that cannot reach it), the timeout
        passes, or `stop` is set."""
        said: set[str] = set()

        def settled() -> bool:
            facts = self.facts()
            for f in facts:
                if f["complete"] and f["name"] not in said:
                    said.add(f["name"])
                    self.say(f"demo: {f['name']} has verified everything: each D-TA's birth, a "
                             "session with each, its combined key (= the sum of the D-TA-signed "
                             "public shares), its events logged, each anchored receipt")
            return all(not f["missing"] for f in facts)  # complete, or failed for good

        ok = self.wait(settled, timeout, stop)
        self.story_done = True
        self._last_report = time.monotonic()
        return ok

    def summary(self) -> dict:
        devices = self.facts()
        dtas = [summary.authority_facts(a, self.starts[n])
                for n, a in enumerate(self.authorities)]
        born = all(t["born"] for t in dtas)
        out = {"complete": born and all(d["complete"] for d in devices),
               "elapsed_s": round(time.monotonic() - self.t0, 1), "dtas": dtas,
               "devices": devices, "totals": summary.totals(dtas, devices),
               "gateway_refusals": self.authorities[0].service.registry.rejections()}
        path = self.workdir / SUMMARY_FILE
        write_secret(path, json.dumps(out, indent=2, sort_keys=True))
        out["file"] = str(path)
        return out

    # -- stop ----------------------------------------------------------------------------------

    def stop(self) -> None:
        self.stopping = self.narrator.quiet = True
        steps = [d.stop for d in self.devices]
        steps += [x.stop for x in (self.serial, self.pty, self.gateway, self.clock) if x]
        steps += [a.close for a in self.authorities]
        if self.devnet is not None:
            steps.append(self.devnet.down)
        for step in steps:
            try:
                step()
            except (DtaError, OSError) as exc:  # the rest is stopped all the same
                log.debug("stopping the demo: %s", exc)
        self.lock.release()
