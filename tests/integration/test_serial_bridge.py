"""The gateway's serial bridge (dta.gateway.serial_link): a real socat PTY pair, a real
mosquitto, a real Gateway with its D-TA's log. On the device end of the cable a host-side
endpoint speaks dtacore.serial_frame records (what the firmware's serial transport writes);
frames cross to and from the MQTT topics by the ids inside them, events are logged and acked
over the line. Last, an emulated device (the real firmware on the MicroPython VM, serial
transport) meets a real D-TA (dta.issuance, born on the regtest node) through the bridge:
trust bundle, full handshake, share, acked events. Nothing is timed."""

from __future__ import annotations

import itertools
import os
import queue
import threading

import paho.mqtt.client as mqtt
import pytest
import serial

from dta.gateway import enrolment
from dta.gateway.serial_link import SerialLink
from dta.services.serial_pty import PtyPair
from dtacore import backend, channel, serial_frame, wire
from tests.fixtures.fleet import signed_hello
from tests.integration.test_gateway_events import WAIT, Device, Dta

_n = itertools.count(1)
DTA8 = bytes.fromhex("d7a0000000000001")


class LineEnd:
    """The device's end of the cable: writes frames as records, reads the records back."""

    def __init__(self, path):
        self.port = serial.Serial(str(path), timeout=0.2)
        self.frames: queue.Queue[bytes] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        deframer = serial_frame.Deframer()
        while not self._stop.is_set():
            data = self.port.read(512)
            for kind, item in deframer.feed(data) if data else deframer.idle():
                if kind == "frame":
                    self.frames.put(item)

    def send(self, frame: bytes, noise: bytes = b"") -> None:
        self.port.write(noise + serial_frame.encode(frame))
        self.port.flush()

    def next(self) -> bytes:
        return self.frames.get(timeout=WAIT)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.port.close()


class Watcher:
    """An MQTT client reading topics of the prefix."""

    def __init__(self, broker, topics):
        self.got: queue.Queue[tuple[str, bytes]] = queue.Queue()
        ready = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_message = lambda c, u, m: self.got.put((m.topic, bytes(m.payload)))
        self.client.on_subscribe = lambda *a: ready.set()
        self.client.on_connect = lambda c, *a: c.subscribe([(t, 1) for t in topics])
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert ready.wait(WAIT)

    def next(self) -> tuple[str, bytes]:
        return self.got.get(timeout=WAIT)

    def publish(self, topic: str, frame: bytes) -> None:
        self.client.publish(topic, frame, qos=1).wait_for_publish(WAIT)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def bridge(broker, tmp_path):
    prefix = f"sb{next(_n)}/v1"
    dta = Dta(tmp_path / "dta", broker, prefix)
    with PtyPair(tmp_path / "pty") as cable:
        link = SerialLink(dta.gw, str(cable.gateway_end)).start()
        end = LineEnd(cable.device_end)
        watch = Watcher(broker, [f"{prefix}/dta/+/+", f"{prefix}/d2d/+/+",
                                 f"{prefix}/hello/+"])
        yield dta, link, end, watch, prefix
        watch.close()
        end.close()
        link.stop()
    dta.close()


def _hello(dev: Device, end: LineEnd, watch: Watcher, prefix: str) -> None:
    """The device's hello over the line: registered, and published for the D-TAs."""
    kid, frame = signed_hello(dev.secret)
    end.send(frame, noise=b"boot banner\r\n")
    assert watch.next() == (wire.hello_topic(prefix, dev.kid), frame)


def test_frames_cross_between_the_line_and_the_topics(bridge):
    dta, link, end, watch, prefix = bridge
    dev, peer = Device(), Device()
    _hello(dev, end, watch, prefix)
    to_dta = channel.encode(channel.TYPE_TO_DTA, DTA8, dev.kid, channel.trust_request(5))
    end.send(to_dta)
    assert watch.next() == (channel.topic_to_dta(prefix, DTA8, dev.kid), to_dta)
    # The bridge subscribed for the device before publishing that frame (paho keeps the order),
    # so what a D-TA sends it now reaches the line.
    reply = channel.encode(channel.TYPE_TO_DEVICE, DTA8, dev.kid, channel.trust_refused(1))
    watch.publish(channel.topic_to_device(prefix, dev.kid, DTA8), reply)
    assert end.next() == reply
    # Device to device: out on <p>/d2d/<to>/<from>, and a peer's frame back.
    out = channel.encode(channel.TYPE_TO_DEVICE, dev.kid, peer.kid, b"\x10hello peer")
    end.send(out)
    assert watch.next() == (channel.d2d_topic(prefix, peer.kid, dev.kid), out)
    back = channel.encode(channel.TYPE_TO_DEVICE, peer.kid, dev.kid, b"\x11hello back")
    watch.publish(channel.d2d_topic(prefix, dev.kid, peer.kid), back)
    assert end.next() == back
    assert dta.registry.rejections() == {}  # its own published hello is not a replay
    assert [e.kind for e in dta.events.events] == ["registered"]


def test_what_the_bridge_must_not_carry_is_refused_and_counted(bridge):
    dta, link, end, watch, prefix = bridge
    dev, stranger = Device(), Device()
    _hello(dev, end, watch, prefix)
    # From the line: a device the registry does not know, a channel frame cut short.
    end.send(channel.encode(channel.TYPE_TO_DTA, DTA8, stranger.kid, b"\x20\x00"))
    good = channel.encode(channel.TYPE_TO_DTA, DTA8, dev.kid, channel.trust_request(1))
    end.send(good[:-1] + b"")  # the header says one byte more
    end.send(good)
    assert watch.next() == (channel.topic_to_dta(prefix, DTA8, dev.kid), good)
    # From the broker: ids that are not the topic's, then garbage, then a good one.
    wrong = channel.encode(channel.TYPE_TO_DEVICE, DTA8, stranger.kid, b"\x21x")
    watch.publish(channel.topic_to_device(prefix, dev.kid, DTA8), wrong)
    watch.publish(channel.topic_to_device(prefix, dev.kid, DTA8), b"\x00garbage")
    fine = channel.encode(channel.TYPE_TO_DEVICE, DTA8, dev.kid, b"\x21y")
    watch.publish(channel.topic_to_device(prefix, dev.kid, DTA8), fine)
    assert end.next() == fine  # the two before it were not written
    assert dta.registry.rejections() == {"bridge-unknown-device": 1, "bridge-malformed": 2,
                                         "bridge-topic-mismatch": 1}
    assert not [t for t in _drain(watch) if "/dta/" in t[0]]  # nothing else went out


def _drain(watch: Watcher) -> list:
    out = []
    while not watch.got.empty():
        out.append(watch.got.get_nowait())
    return out


def test_an_event_over_the_line_is_logged_and_acked_over_the_line(bridge):
    dta, link, end, watch, prefix = bridge
    dev = Device()
    _hello(dev, end, watch, prefix)
    end.send(dev.event(1, b"too early"))  # pending: refused, no ack
    assert dta.events.wait_for(lambda evs: any(e.reason == "event-not-enrolled" for e in evs),
                               WAIT)
    enrolment.enroll(dta.registry, dta.log.append, dev.kid.hex())
    end.send(dev.event(2, b"door opened"), noise=b"\x00\xff noise")
    for resend in (True, False):
        kid, upto, dta8, sig = channel.decode_ack(end.next())
        if resend:  # once acked: the device's retry (in one batch, both would get one ack)
            end.send(dev.event(2, b"door opened"))
        assert (kid, upto, dta8) == (dev.kid, 2, dta.dta_id[:8])
        assert backend.verify(dta.secrets.signer.public_key, channel.ack_digest(kid, upto), sig)
    slot = dta.log.store.device_event(dev.pubkey, 2)
    assert slot is not None and dta.log.store.device_event(dev.pubkey, 1) is None
    dta.settled(2)
    assert [e.kind for e in dta.events.events if e.kind in ("event", "duplicate")] == [
        "event", "duplicate"]
    assert dta.registry.rejections() == {"event-not-enrolled": 1}


# -- the real firmware through the bridge ------------------------------------------------------


def test_an_emulated_serial_device_meets_a_dta_through_the_bridge(unix_bundle, tmp_path,
                                                                  regtest_node, issuance_broker):
    from dta.emulator import EmulatedDevice
    from dta.gateway.service import EventLog, Gateway
    from tests.device.test_agent_federation import EPOCH, HEAP, _trust_cfg
    from tests.device.test_agent_resilience import Watch
    from tests.fixtures.issuance import born_federation

    fed = born_federation(tmp_path / "fed", issuance_broker, regtest_node, n=1)
    svc = fed.services[0]
    gw = Gateway(svc.cfg, svc.registry, dta_id=svc.dta_id, log=svc.log)  # the D-TA's gateway
    events = EventLog()
    gw.listeners.append(events)
    board = None
    try:
        gw.start()
        with PtyPair(tmp_path / "pty") as cable:
            link = SerialLink(gw, str(cable.gateway_end)).start()
            try:
                dev = EmulatedDevice(tmp_path / "dev", heapsize=HEAP)
                dev.flash(unix_bundle)
                dev.configure(transport="serial", serial_path=str(cable.device_end), once=True)
                run = dev.run()
                assert run.returncode == 0, run.output
                kid = run.first("identity")["key_id"]
                # Its hello crossed the bridge: the D-TA learnt the key from the hello topic.
                fed.events[0].wait_for(lambda evs: any(
                    e.kind.startswith("hello-") and e.fields.get("key_id") == kid
                    for e in evs))
                svc.enroll(kid)
                cfg = _trust_cfg(fed)
                cfg.update(transport="serial", serial_path=str(cable.device_end))
                dev.configure(**cfg)
                from dta.emulator import EmulatedBoard
                watch = Watch()
                board = EmulatedBoard(dev, watch).start()
                watch.until(lambda e: e["event"] == "trusted", WAIT * 4)
                hand = watch.until(lambda e: e["event"] == "handshake", WAIT * 4)
                assert hand["resumed"] is False
                combined = watch.until(lambda e: e["event"] == "shares-combined", WAIT * 4)
                assert combined["shares"] == 1 and combined["epoch"] == EPOCH
                watch.until(lambda e: e["event"] == "ack", WAIT * 4)  # events, over the line
                assert events.wait_for(lambda evs: any(e.kind == "event" for e in evs), WAIT)
                logged = [e for e in events.events if e.kind == "event"]
                assert all(e.key_id == kid for e in logged)
                assert svc.log.store.device_event(
                    backend.pubkey((dev.root / "key.bin").read_bytes()[6:38]),
                    logged[0].counter) is not None
            finally:
                if board is not None:
                    board.stop()
                link.stop()
    finally:
        gw.stop()
        fed.close()
    assert os.path.exists(svc.cfg.log_db)
