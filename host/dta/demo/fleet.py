"""Run a broker, a gateway and emulated devices together, narrating for a gateway operator."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Callable

from dta.config import Config
from dta.emulator import EmulatedDevice
from dta.errors import AuthorityError
from dta.firmware.bundle import build
from dta.gateway.service import EventLog, Gateway
from dta.services.mosquitto import Mosquitto

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

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.broker = Mosquitto(self.workdir / "broker").start()
        self.say(f"broker: private mosquitto on mqtt://127.0.0.1:{self.broker.port} "
                 f"(started for this demo, stopped with it)")
        mqtt = replace(self.cfg.mqtt, host="127.0.0.1", port=self.broker.port)
        self.cfg = replace(self.cfg, mqtt=mqtt, data_dir=self.workdir)
        self._start_authority()
        self.gateway = Gateway(self.cfg, log=self.log)
        # Narrate first, then count: "all registered" is printed after the last registration.
        self.gateway.listeners += [lambda e: self.say("gateway: " + e.describe()), self.events]
        self.gateway.start()
        self.say(f"gateway: listening on {mqtt.topic_prefix}/hello/+, "
                 f"registry {self.cfg.registry_db}")
        bundle = build("unix", self.workdir / "bundle-unix")
        self.say(f"firmware: bundle for board 'unix' built ({len(bundle.files)} files, .mpy)")
        for i in range(self.count):
            dev = EmulatedDevice(self.workdir / "devices" / f"device-{i + 1}")
            dev.flash(bundle)
            dev.configure(mqtt_host="127.0.0.1", mqtt_port=self.broker.port,
                          topic_prefix=mqtt.topic_prefix)
            dev.start(self._narrator(f"device-{i + 1}"))
            self.devices.append(dev)

    def _start_authority(self) -> None:
        """The demo's D-TA: made on first run (demo passphrase), reopened afterwards."""
        from dta.authority import identity
        from dta.log.service import Log

        passphrase = os.environ.get(identity.PASSPHRASE_ENV) or DEMO_PASSPHRASE
        try:
            self.facts = identity.load_public(self.workdir)
            how = "reopened"
        except AuthorityError:
            self.facts = identity.initialise(self.workdir, passphrase, name="demo-dta",
                                             network="regtest")
            how = "created"
        self.signer = identity.open_signer(self.workdir, passphrase)
        self.say(f"authority: {how} D-TA '{self.facts.name}', id {self.facts.dta_id.hex()[:16]}"
                 f"..., secrets sealed with the demo passphrase (set {identity.PASSPHRASE_ENV} "
                 f"to use your own)")
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
            kind = ev["event"]
            if kind == "boot":
                self.say(f"{name}: booting MicroPython firmware {ev.get('firmware')} "
                         f"on board {ev.get('board')} (64 KiB heap)")
            elif kind == "entropy":
                self.say(f"{name}: entropy source passed its start-up health tests")
            elif kind == "identity":
                how = "made a new" if ev.get("created") == "True" else "reloaded its"
                self.say(f"{name}: {how} secp256k1 identity key, key id {ev.get('key_id')}, "
                         f"boot #{ev.get('boot')}")
            elif kind == "hello":
                self.say(f"{name}: sent a signed hello ({ev.get('bytes')} bytes)")
            elif kind == "memory":
                self.say(f"{name}: online, {int(ev.get('free', 0)) / 1024:.1f} KiB of heap free")
            elif kind == "refuse":
                self.say(f"{name}: REFUSED to start: {ev.get('reason')}: {ev.get('detail')}")
            elif kind == "exit" and ev.get("code") not in (0, -15):
                self.say(f"{name}: stopped with exit code {ev.get('code')}")
            elif kind == "output" and ev.get("line"):
                self.say(f"{name}: {ev['line']}")
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


