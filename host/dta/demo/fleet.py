"""Run a broker, a gateway and emulated devices together, narrating for a gateway operator.

The broker requires authentication, as a real one must: the gateway and the devices each get an
account (random passwords in 0600 files under the demo's `broker-credentials/`, kept across
runs) and an ACL lets devices publish hellos only. New devices register as pending; the demo
then approves each one as an operator would with `dta devices enroll`, which is when its
enrolment is logged.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Callable

from dta.config import Config
from dta.datadir import DataDirLock
from dta.emulator import EmulatedDevice
from dta.errors import AuthorityError, WrongPassphrase
from dta.firmware.bundle import build
from dta.gateway import enrolment
from dta.gateway.service import Event, EventLog, Gateway
from dta.services.mosquitto import (
    DEVICE_USER,
    GATEWAY_USER,
    FleetCredentials,
    Mosquitto,
    fleet_acl,
)

# The demo authority's passphrase when DTA_PASSPHRASE is not set: demo data only, on regtest.
DEMO_PASSPHRASE = "dta-demo-only"


class Fleet:
    def __init__(self, cfg: Config, workdir: Path, devices: int, say: Callable[[str], None]):
        self.cfg = cfg
        self.workdir = Path(workdir)
        self.count = devices
        self.say = say
        self.broker: Mosquitto | None = None
        self.gateway: Gateway | None = None
        self.devices: list[EmulatedDevice] = []
        self.events = EventLog()
        self.log = None
        self.lock = DataDirLock(self.workdir, "demo")

    def start(self) -> None:
        self.lock.acquire()
        creds = FleetCredentials(self.workdir / "broker-credentials").ensure()
        mqtt = self.cfg.mqtt
        self.broker = Mosquitto(self.workdir / "broker", users=creds.users(),
                                acl=fleet_acl(mqtt.topic_prefix)).start()
        self.say(f"broker: private mosquitto on mqtt://127.0.0.1:{self.broker.port}, "
                 f"authentication required: accounts {GATEWAY_USER} and {DEVICE_USER} "
                 f"(passwords in {creds.root}; started for this demo, stopped with it)")
        mqtt = replace(mqtt, host="127.0.0.1", port=self.broker.port, client_id="",
                       username=GATEWAY_USER, password_file=str(creds.gateway_file),
                       device_username=DEVICE_USER, device_password_file=str(creds.device_file))
        self.cfg = replace(self.cfg, mqtt=mqtt, data_dir=self.workdir)
        self._start_authority()
        self.gateway = Gateway(self.cfg, dta_id=self.facts.dta_id)
        # Narrate, approve, then count: "all registered" is printed after the last approval.
        self.gateway.listeners += [lambda e: self.say("gateway: " + e.describe()),
                                   self._approve, self.events]
        self.gateway.start()
        self.say(f"gateway: listening on {mqtt.topic_prefix}/hello/+ as {GATEWAY_USER}, "
                 f"registry {self.cfg.registry_db}")
        self._start_devices(creds)

    def _start_devices(self, creds: FleetCredentials) -> None:
        bundle = build("unix", self.workdir / "bundle-unix")
        self.say(f"firmware: bundle for board 'unix' built ({len(bundle.files)} files, .mpy)")
        m = self.cfg.mqtt
        for i in range(self.count):
            dev = EmulatedDevice(self.workdir / "devices" / f"device-{i + 1}")
            dev.flash(bundle)
            dev.configure(mqtt_host="127.0.0.1", mqtt_port=self.broker.port,
                          topic_prefix=m.topic_prefix, mqtt_user=DEVICE_USER,
                          mqtt_password=creds.password(creds.device_file))
            dev.start(self._narrator(f"device-{i + 1}"))
            self.devices.append(dev)

    def _approve(self, event: Event) -> None:
        """The operator's part: enrol each new device (`dta devices enroll KEY_ID`)."""
        if event.kind != "registered":
            return
        dev, _ = enrolment.enroll(self.gateway.registry, self.log.append, event.key_id)
        self.say(f"demo: approved device {dev.key_id} as an operator would (`dta devices enroll "
                 f"{dev.key_id}`): its enrolment is logged as entry #{dev.enrolled_entry}")

    def _passphrase(self) -> tuple[str, str]:
        """(passphrase, where it came from) that opens the demo authority, saying so when
        $DTA_PASSPHRASE does not."""
        from dta.authority import identity

        env = os.environ.get(identity.PASSPHRASE_ENV)
        tries = ([(env, f"${identity.PASSPHRASE_ENV}")] if env else []) + [
            (DEMO_PASSPHRASE, "the demo passphrase")]
        for passphrase, name in tries:
            try:
                self.signer = identity.open_signer(self.workdir, passphrase)
                return passphrase, name
            except WrongPassphrase:
                if name.startswith("$"):
                    self.say(f"authority: ${identity.PASSPHRASE_ENV} does not open the demo "
                             f"authority in {self.workdir}; trying the demo passphrase it is "
                             "made with by default")
        raise WrongPassphrase(
            f"neither ${identity.PASSPHRASE_ENV} nor the demo passphrase opens the demo "
            f"authority in {self.workdir}: set {identity.PASSPHRASE_ENV} to the passphrase it "
            "was made with, or run the demo with another --data-dir")

    def _start_authority(self) -> None:
        """The demo's D-TA: made on first run, reopened afterwards."""
        from dta.authority import identity
        from dta.log.service import Log

        try:
            self.facts = identity.load_public(self.workdir)
            _, name = self._passphrase()
            how = "reopened"
        except AuthorityError as exc:
            if isinstance(exc, WrongPassphrase) or identity.exists(self.workdir):
                raise
            env = os.environ.get(identity.PASSPHRASE_ENV)
            passphrase = env or DEMO_PASSPHRASE
            name = f"${identity.PASSPHRASE_ENV}" if env else "the demo passphrase"
            self.facts = identity.initialise(self.workdir, passphrase, name="demo-dta",
                                             network="regtest")
            self.signer = identity.open_signer(self.workdir, passphrase)
            how = "created"
        hint = "" if name.startswith("$") else f" (set {identity.PASSPHRASE_ENV} to use your own)"
        self.say(f"authority: {how} D-TA '{self.facts.name}', id {self.facts.dta_id.hex()[:16]}"
                 f"..., secrets sealed with {name}{hint}")
        self.log = Log.open(self.cfg, self.signer)
        self.say(f"log: transparency log {self.cfg.log.origin} holds {self.log.store.size} "
                 "entries")

    def checkpoint_and_anchor(self) -> None:
        """Close a checkpoint over what was logged, then anchor it (and the Birth Record) on a
        throwaway regtest node when one can be started; otherwise the roots stay pending."""
        from dta.demo.throwaway_chain import anchor_on_throwaway_node

        last = self.log.store.last_checkpoint()
        cp = last if last and last.tree_size == self.log.store.size else self.log.checkpoint()
        self.say(f"log: checkpoint #{cp.seq} signed by the D-TA: {cp.tree_size} entries, "
                 f"root {cp.root.hex()[:16]}...")
        anchor_on_throwaway_node(self.workdir, self.signer, self.facts, self.log.store, k=1,
                                 say=lambda m: self.say("anchor: " + m))

    def _narrator(self, name: str):
        def on_event(ev: dict) -> None:
            line = _narration(name, ev)
            if line:
                self.say(f"{name}: {line}")
        return on_event

    def wait_registered(self, timeout: float) -> bool:
        n = self.count
        return self.events.wait_for(
            lambda evs: len({e.key_id for e in evs if e.kind in ("registered", "hello")}) >= n,
            timeout)

    def stop(self) -> None:
        for dev in self.devices:
            dev.stop()
        if self.gateway:
            self.gateway.stop()
        if self.log:
            self.log.store.close()
        if self.broker:
            self.broker.stop()
        self.lock.release()


def _narration(name: str, ev: dict) -> str | None:
    kind = ev["event"]
    if kind == "boot":
        return (f"booting MicroPython firmware {ev.get('firmware')} on board {ev.get('board')} "
                "(64 KiB heap)")
    if kind == "entropy":
        return "entropy source passed its start-up health tests"
    if kind == "identity":
        how = "made a new" if ev.get("created") is True else "reloaded its"
        return (f"{how} secp256k1 identity key, key id {ev.get('key_id')}, "
                f"boot #{ev.get('boot')}")
    if kind == "hello":
        return f"sent a signed hello ({ev.get('bytes')} bytes)"
    if kind == "memory":
        return f"online, {int(ev.get('free', 0)) / 1024:.1f} KiB of heap free"
    if kind == "refuse":
        return f"REFUSED to start: {ev.get('reason')}: {ev.get('detail')}"
    if kind == "exit" and not ev.get("stopped") and ev.get("code") not in (0, -15):
        return f"stopped with exit code {ev.get('code')}"
    if kind == "output" and ev.get("line"):
        return ev["line"]
    return None
