"""Device to device (issue 11), end to end: two emulated devices of one federation (real
firmware on the MicroPython VM, real D-TAs born on the regtest node, a real mosquitto) run the
handshake with each other, each showing a voucher from a D-TA the other verified itself. A
peer whose voucher is not signed by such a D-TA is refused by the device, never taken on its
own word."""

from __future__ import annotations

import os
import queue
import struct

import paho.mqtt.client as mqtt

from dta.emulator import EmulatedBoard
from dta.signing import Signer
from dtacore import backend, channel, handshake, voucher, wire
from dtacore import handshake_wire as W
from tests.device.test_agent_federation import WAIT, _trust_cfg, enrolled
from tests.device.test_agent_resilience import Watch


def _key_id(dev) -> bytes:
    return wire.key_id(backend.pubkey((dev.root / "key.bin").read_bytes()[6:38]))


def test_two_devices_authenticate_each_other_with_vouchers(unix_bundle, tmp_path, federation):
    a, _ = enrolled(unix_bundle, tmp_path / "a", federation)
    b, kid_b = enrolled(unix_bundle, tmp_path / "b", federation)
    b.configure(**_trust_cfg(federation))
    wb = Watch()
    boards = [EmulatedBoard(b, wb).start()]
    try:
        wb.until(lambda e: e["event"] == "shares-combined", WAIT)  # b holds its vouchers
        a.configure(**_trust_cfg(federation), d2d_peers=[kid_b])
        wa = Watch()
        boards.append(EmulatedBoard(a, wa).start())
        mine = wa.until(lambda e: e["event"] == "d2d", WAIT)
        theirs = wb.until(lambda e: e["event"] == "d2d", WAIT)
        assert mine["role"] == "initiator" and mine["verified"] is True, mine
        assert theirs["role"] == "responder" and theirs["verified"] is True, theirs
        assert mine["peer"] == kid_b and theirs["peer"] == _key_id(a).hex()
        _forged_voucher_is_refused(federation, bytes.fromhex(kid_b), wb)
    finally:
        for board in boards:
            board.stop()


def _forged_voucher_is_refused(federation, kid_b: bytes, wb: Watch):
    # A host-side device whose voucher names the federation's first D-TA but is signed by a
    # key of its own: device b answers message_3 with untrusted-credential.
    secret = os.urandom(32)
    key = backend.pubkey(secret)
    kid = wire.key_id(key)
    forger, expiry = Signer.generate(), 4_000_000_000
    dta_id = federation.dta_ids[0]
    forged = dta_id[:8] + struct.pack(">I", expiry) + forger.sign_digest(
        voucher.digest(dta_id, key, expiry))
    got: queue.Queue = queue.Queue()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_message = lambda c, u, m: got.put(channel.decode(bytes(m.payload))[3])
    client.connect(federation.broker.host, federation.broker.port)
    client.subscribe(f"{federation.prefix}/d2d/{kid.hex()}/+", qos=1)
    client.loop_start()
    try:
        known = {s.dta8: (s.dta_id, s.identity_pubkey) for s in federation.services}
        i = handshake.Initiator(secret, key, kid, os.urandom,
                                lambda cid, ead: voucher.check(ead, cid, known.get, 0),
                                ead=voucher.ead(key, forged))

        def send(payload):
            client.publish(channel.d2d_topic(federation.prefix, kid_b, kid),
                           channel.encode(channel.TYPE_TO_DEVICE, kid, kid_b, payload),
                           qos=1).wait_for_publish(10)

        send(i.start())
        send(i.receive(got.get(timeout=WAIT)))  # message_3 carries the forged voucher
        reply = got.get(timeout=WAIT)
        assert reply[0] == W.ERROR and W.decode_error(reply)[1] == 4  # untrusted-credential
        refusal = wb.until(lambda e: e["event"] == "d2d", WAIT)
        assert refusal["verified"] is False and refusal["peer"] == kid.hex()
    finally:
        client.loop_stop()
        client.disconnect()
