"""The device agent against the real D-TA service (dta.issuance.AuthorityService), end to end:
the real firmware on the MicroPython VM, three D-TAs born and confirmed on the real bcoin
regtest node, a real mosquitto. The device checks each D-TA's birth itself from its streamed
trust bundle, runs a full handshake with each, takes a share from each (each checked against
its signed public share and its pending receipt), combines them, and on its next boot resumes
every session with its ticket (no bundle, no share request). Once the checkpoints are anchored,
the device verifies the upgraded receipts end to end; a tampered one is refused on the VM with
the link it breaks.

The host half of the board layer (dta.emulator.EmulatedBoard) runs the VM; nothing is timed:
the tests wait for the device's own lines and the D-TAs' events."""

from __future__ import annotations

import hashlib
import os
import shutil

import pytest

from dta.emulator import EmulatedDevice
from dta.services import micropython as mp
from dtacore import backend, shares
from tests.device.test_agent_resilience import Watch
from tests.fixtures.issuance import K

EPOCH = 7
WAIT = 120
# The heap the agent runs in here: see bench/device.py for the smallest it needs.
HEAP = os.environ.get("DTA_AGENT_HEAP", "240k")


def _flashed(unix_bundle, root) -> EmulatedDevice:
    dev = EmulatedDevice(root, heapsize=HEAP)
    dev.flash(unix_bundle)
    return dev


def _trust_cfg(federation) -> dict:
    p = federation.provisioning
    return {"mqtt_host": federation.broker.host, "mqtt_port": federation.broker.port,
            "topic_prefix": federation.prefix, "dta_ids": [i.hex() for i in p.dta_ids],
            "network": p.network, "confirmations": K, "checkpoint_height": p.checkpoint_height,
            "checkpoint_header": p.checkpoint_header.hex(), "epoch": EPOCH,
            "reply_timeout_ms": 1500, "backoff_base_ms": 200, "backoff_cap_ms": 2000}


def enrolled(unix_bundle, root, federation) -> tuple[EmulatedDevice, str]:
    """A device whose hello every D-TA has seen and that every D-TA has enrolled."""
    dev = _flashed(unix_bundle, root)
    dev.configure(mqtt_host=federation.broker.host, mqtt_port=federation.broker.port,
                  topic_prefix=federation.prefix, once=True)
    run = dev.run()
    assert run.returncode == 0, run.output
    kid = run.first("identity")["key_id"]
    for ev in federation.events:
        ev.wait_for(lambda evs: any(e.kind == "hello-registered" and
                                    e.fields.get("key_id") == kid for e in evs))
    for svc in federation.services:
        svc.enroll(kid)
    return dev, kid


def expected_key(federation, kid: str) -> str:
    pubs = [backend.pubkey(shares.derive(s.master_secret, bytes.fromhex(kid), EPOCH))
            for s in federation.secrets]
    return backend.point_sum(pubs).hex()


@pytest.fixture
def boards():
    from dta.emulator import EmulatedBoard
    started = []

    def start(dev):
        watch = Watch()
        started.append(EmulatedBoard(dev, watch).start())
        return watch, started[-1]

    yield start
    for b in started:
        b.stop()


def _until_all(watch, name, n):
    for _ in range(n):
        watch.until(lambda e: e["event"] == name, WAIT)
    return watch.named(name)[-n:]


def test_trust_full_handshakes_shares_then_resumed_sessions(unix_bundle, tmp_path, federation,
                                                           boards):
    dev, kid = enrolled(unix_bundle, tmp_path / "dev", federation)
    dev.configure(**_trust_cfg(federation))
    watch, board = boards(dev)
    trusted = _until_all(watch, "trusted", 3)
    combined = watch.until(lambda e: e["event"] == "shares-combined", WAIT)
    hands = watch.named("handshake")
    assert [h["resumed"] for h in hands] == [False] * 3
    assert combined["key"] == expected_key(federation, kid) and combined["shares"] == 3
    assert combined["epoch"] == EPOCH and len(watch.named("share")) == 3
    assert all(t["birth"] <= t["tip"] for t in trusted)
    for ev in federation.events:
        assert len(ev.kinds("trust-answered")) >= 1
    board.power_cut()  # a cut at any moment: the device boots again from its flash
    boot = watch.until(lambda e: e["event"] == "boot" and e["reset"] == "power-on", WAIT)
    again = _until_all(watch, "handshake", 3)
    assert [h["resumed"] for h in again] == [True] * 3
    assert not [e for e in watch.events[watch.events.index(boot):]
                if e["event"] in ("trusted", "share", "shares-combined")]
    for ev in federation.events:
        ev.wait_for(lambda evs: len([e for e in evs if e.kind == "resumed"]) >= 1)


def test_anchored_receipts_verified_by_the_device_and_a_tampered_one_refused(
        unix_bundle, tmp_path, federation, regtest_node, boards):
    dev, kid = enrolled(unix_bundle, tmp_path / "dev", federation)
    dev.configure(**_trust_cfg(federation))
    watch, board = boards(dev)
    watch.until(lambda e: e["event"] == "shares-combined", WAIT)
    board.stop()
    for svc in federation.services:  # each checkpoint anchored, k deep
        svc.anchor_round()
    regtest_node.mine(K)
    for svc in federation.services:
        svc.anchor_round()
    watch, board = boards(dev)
    receipts = _until_all(watch, "receipt", 3)
    assert all(r["valid"] is True for r in receipts), receipts
    tip = max(r["tip"] for r in receipts)
    assert tip >= regtest_node.node.height() - 1
    board.stop()
    _tampered_receipt_is_refused(dev, federation, tmp_path)


def _tampered_receipt_is_refused(dev: EmulatedDevice, federation, tmp_path):
    # The anchored receipt the first D-TA gives this device, fetched by the host-side client
    # with the device's own key, then checked on the VM against the device's own flash: as it is
    # (valid) and with one byte of the anchoring transaction flipped (refused, naming the link).
    from dta.issuance import DeviceClient

    secret = (dev.root / "key.bin").read_bytes()[6:38]
    client = DeviceClient(secret, federation.provisioning, federation.link(
        hashlib.sha256(backend.pubkey(secret)).digest()[:8]), timeout=5)
    dta_id = federation.dta_ids[0]
    client.trust(dta_id)
    client.connect(dta_id)
    client.request_share(dta_id, EPOCH)  # the same share again: no new entry
    raw = client.request_receipt(dta_id, EPOCH).receipt
    runner = os.path.join(os.path.dirname(__file__), "vm", "agent_receipt.py")
    cases = {"valid": raw}
    cases.update(_tamperings(raw))
    out = {}
    for name, data in cases.items():
        flash = tmp_path / f"flash-{name}"
        shutil.copytree(dev.root, flash)  # the device's own state, as it is now
        (tmp_path / f"{name}.bin").write_bytes(data)
        res = mp.run(runner, str(flash), str(tmp_path / f"{name}.bin"), path=(flash / "lib",),
                     heapsize=HEAP, cwd=flash)
        out[name] = res.stdout.decode().strip()
        assert res.returncode == 0, out[name] + res.stderr.decode()
    assert out["valid"].startswith("ok"), out
    assert out["entry-byte-flipped"].startswith("LinkError inclusion proof:"), out
    assert out["anchored-root-changed"].startswith("LinkError payload:"), out
    assert out["headers-short-of-k"].startswith("LinkError confirmations:"), out


def _tamperings(raw: bytes) -> dict:
    """The anchored receipt changed where each link should catch it."""
    from dtacore import receipt_bytes

    r = receipt_bytes.decode(raw)
    a = r.anchor
    entry = bytearray(r.entry)
    entry[-1] ^= 1
    tx = bytearray(a.tx)
    at = bytes(tx).find(b"D-TA\x01\x02") + 38  # the payload's root, inside the OP_RETURN
    tx[at] ^= 1
    last = (a.block_index + 1) * 80  # the anchor's block, and none after it
    return {
        "entry-byte-flipped": receipt_bytes.encode(r._replace(entry=bytes(entry))),
        "anchored-root-changed": receipt_bytes.encode(r._replace(anchor=a._replace(tx=bytes(tx)))),
        "headers-short-of-k": receipt_bytes.encode(r._replace(anchor=a._replace(
            headers=a.headers[:last]))),
    }
