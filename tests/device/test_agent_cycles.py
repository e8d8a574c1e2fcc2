"""Sleepy devices and the outbox, end to end (issue 15): the real firmware on the MicroPython VM
under the host half of the board layer, real D-TAs (dta.issuance) born on the real regtest
node, a real mosquitto.

- Ten deep-sleep cycles: every wake resumes each session with its ticket (no public-key
  operation: the device counts them) and delivers the three events its application raised.
- A broker restart mid-session: the device reconnects by itself and its outbox is delivered;
  each event is logged once, however often it was sent.

The device's events go to the real gateway of the first D-TA (`EventDesk`,
tests/fixtures/fleet.py: a dta.gateway Gateway on that D-TA's registry and log), which checks
each EVENT frame's signature with the device's registered key, logs one DeviceEvent entry per
(device, event id) and answers with an EVENT_ACK signed by the D-TA's identity key."""

from __future__ import annotations

import hashlib

import pytest

from dta.emulator import EmulatedBoard
from dta.services.mosquitto import Mosquitto
from dtacore import backend
from tests.device.test_agent_federation import WAIT, _trust_cfg, enrolled
from tests.device.test_agent_resilience import Watch
from tests.fixtures.fleet import EventDesk
from tests.fixtures.issuance import born_federation

CYCLES = 10
APP = """# The application on the test devices: three events per wake.
def step(emit):
    for i in range(3):
        emit(0x80, b"reading %d" % i)
"""


def _desk(fed, dev_root) -> tuple[EventDesk, bytes]:
    key = backend.pubkey((dev_root / "key.bin").read_bytes()[6:38])
    kid = hashlib.sha256(key).digest()[:8]
    return EventDesk(fed.broker, service=fed.services[0]), kid


def test_ten_deep_sleep_cycles_resume_without_public_key_operations(unix_bundle, tmp_path,
                                                                     federation):
    dev, _ = enrolled(unix_bundle, tmp_path / "dev", federation)
    (dev.root / "lib" / "dtanode_app.py").write_text(APP)
    dev.configure(**_trust_cfg(federation), sleep_period_s=1)
    desk, kid = _desk(federation, dev.root)
    watch = Watch()
    board = EmulatedBoard(dev, watch).start()
    try:
        for _ in range(CYCLES + 1):  # the first boot, then ten wakes
            watch.until(lambda e: e["event"] == "board-end", WAIT)
        wakes = [e for e in watch.named("board") if e["cause"] == "deepsleep"]
        assert len(wakes) >= CYCLES
        hands = watch.named("handshake")
        assert [h["resumed"] for h in hands[:3]] == [False] * 3
        assert [h["ec_ops"] for h in hands[:3]] == [4] * 3  # keygen, ECDH, verify, sign
        resumed = hands[3:3 + 3 * CYCLES]
        assert len(resumed) == 3 * CYCLES
        assert all(h["resumed"] is True and h["ec_ops"] == 0 for h in resumed), resumed
        assert [e["action"] for e in watch.named("sleep")][:CYCLES + 1] == ["cycle-sleep"] * (
            CYCLES + 1)
        desk.wait(lambda: len(desk.app_events(kid)) >= 3 * (CYCLES + 1))
        events = desk.app_events(kid)
        assert [p for _, p in events[:3 * (CYCLES + 1)]] == [
            b"reading %d" % i for i in range(3)] * (CYCLES + 1)
        boots = watch.named("boot")
        assert all(b["reset"] == "deepsleep" and b["last"] == "cycle-sleep" for b in boots[1:])
    finally:
        board.stop()
        desk.close()


@pytest.fixture
def private_federation(tmp_path, regtest_node):
    """One D-TA born on the regtest node, on a broker of this test's own (it is restarted)."""
    broker = Mosquitto(tmp_path / "broker", persistence=True).start()
    fed = born_federation(tmp_path / "fed", broker, regtest_node, n=1)
    yield fed
    fed.close()
    fed.broker.stop()


def test_a_broker_restart_mid_session_delivers_the_outbox_once(unix_bundle, tmp_path,
                                                               private_federation):
    fed = private_federation
    dev, _ = enrolled(unix_bundle, tmp_path / "dev", fed)
    (dev.root / "lib" / "dtanode_app.py").write_text(APP)
    dev.configure(**_trust_cfg(fed), event_rate=600, failures_before_action=100)
    desk, kid = _desk(fed, dev.root)
    watch = Watch()
    board = EmulatedBoard(dev, watch).start()
    try:
        watch.until(lambda e: e["event"] == "ack", WAIT)
        port = fed.broker.port
        fed.broker.stop()  # mid-session: the device's link breaks
        watch.until(lambda e: e["event"] == "failure", WAIT)
        fed.broker = Mosquitto(tmp_path / "broker", port=port, persistence=True).start()
        watch.until(lambda e: e["event"] == "network" and watch.named("failure"), WAIT)
        before = len(desk.app_events(kid))
        desk.wait(lambda: len(desk.app_events(kid)) > before + 3)
        board.stop()
        ids = desk.ids(kid)  # one record per event id, as the gateway's dedup keeps them
        assert ids == list(range(ids[0], ids[-1] + 1)), ids  # none lost across the restart
        assert desk.deliveries >= len(ids)
        assert watch.named("retry") and not [e for e in watch.named("board")
                                             if e["cause"] != "power-on"]
    finally:
        board.stop()
        desk.close()
