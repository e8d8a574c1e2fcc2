"""Device events through a real mosquitto into a real Gateway and its D-TA's log (issue 12):
a host-side device signs EVENT frames with dtacore (the firmware's own code) and reads the
EVENT_ACKs; the gateway logs one DeviceEvent entry per (device key, counter), across
redeliveries and restarts, acks only what the log holds, and refuses, counts and never acks
every frame it must not take. Acks are checked with the D-TA's identity key, entries with the
device's key, as an outsider would. Nothing is timed: every wait is for a condition, and "no
ack" is checked once a later valid event's ack has come (one writer, events in order)."""

from __future__ import annotations

import itertools
import os
import threading

import paho.mqtt.client as mqtt
import pytest

from dta.authority.identity import PublicFacts
from dta.config import Config, LogConfig, MqttConfig
from dta.gateway import enrolment
from dta.gateway.registry import Registry
from dta.gateway.service import EventLog, Gateway
from dta.log import Log
from dtacore import backend, channel, entries, wire
from tests.fixtures.fleet import signed_hello
from tests.fixtures.issuance import make_secrets

_n = itertools.count(1)
WAIT = 30


class Dta:
    """One D-TA's data directory (registry, log) and its gateway on the broker."""

    def __init__(self, root, broker, prefix):
        self.secrets = make_secrets("events")
        self.dta_id = PublicFacts.of(self.secrets.birth).dta_id
        self.cfg = Config(data_dir=root,
                          mqtt=MqttConfig(host=broker.host, port=broker.port,
                                          topic_prefix=prefix),
                          log=LogConfig(origin="events.test/log"))
        self.open()

    def open(self) -> None:
        self.log = Log.open(self.cfg, self.secrets.signer)
        self.registry = Registry(self.cfg.registry_db)
        self.gw = Gateway(self.cfg, self.registry, dta_id=self.dta_id, log=self.log)
        self.events = EventLog()
        self.gw.listeners.append(self.events)
        self.gw.start()

    def close(self) -> None:
        self.gw.stop()
        self.registry.close()
        self.log.store.close()

    def settled(self, n: int) -> None:
        """Wait for n logged-or-duplicate events: the writer emits them after the acks."""
        assert self.events.wait_for(lambda evs: len(
            [e for e in evs if e.kind in ("event", "duplicate")]) >= n, WAIT)

    def kinds(self, kind: str) -> list:
        return [e for e in self.events.events if e.kind == kind]

    def enrol(self, dev: "Device") -> None:
        enrolment.provision(self.registry, self.log.append, dev.pubkey, "unix")


class Device:
    """A device's key and its EVENT frames, made with dtacore as the firmware makes them."""

    def __init__(self) -> None:
        self.secret = os.urandom(32)
        self.pubkey = backend.pubkey(self.secret)
        self.kid = wire.key_id(self.pubkey)

    def event(self, counter: int, payload: bytes = b"door opened", kind: int = 0x80) -> bytes:
        sig = backend.sign(self.secret, entries.event_digest(self.pubkey, counter, kind, payload))
        return channel.event_frame(self.kid, counter, kind, payload, sig)


class Broker:
    """The devices' side of the broker: publishes events, collects every ack of the prefix."""

    def __init__(self, broker, prefix):
        self.prefix = prefix
        self.acks: list[tuple[str, bytes]] = []
        self._cond = threading.Condition()
        ready = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: ready.set()
        self.client.on_connect = lambda c, *a: c.subscribe(f"{prefix}/ack/+", qos=1)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert ready.wait(WAIT)

    def _on_message(self, client, userdata, msg) -> None:
        with self._cond:
            self.acks.append((msg.topic, bytes(msg.payload)))
            self._cond.notify_all()

    def send(self, frame: bytes, kid: bytes) -> None:
        self.client.publish(channel.event_topic(self.prefix, kid), frame, qos=1)

    def raw(self, topic_level: str, frame: bytes) -> None:
        self.client.publish(f"{self.prefix}/event/{topic_level}", frame, qos=1)

    def wait_acks(self, n: int) -> list[tuple[str, bytes]]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.acks) >= n, WAIT), self.acks
            return list(self.acks)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def world(broker, tmp_path):
    prefix = f"ev{next(_n)}/v1"
    dta = Dta(tmp_path / "dta", broker, prefix)
    side = Broker(broker, prefix)
    yield dta, side
    side.close()
    dta.close()


def _check_ack(dta: Dta, dev: Device, frame: tuple[str, bytes], counter: int) -> None:
    topic, ack = frame
    assert topic == channel.ack_topic(dta.cfg.mqtt.topic_prefix, dev.kid)
    kid, upto, dta8, sig = channel.decode_ack(ack)
    assert (kid, upto, dta8) == (dev.kid, counter, dta.dta_id[:8])
    # The device's check: the identity key of the D-TA it verified, over ack_digest.
    assert backend.verify(dta.secrets.signer.public_key, channel.ack_digest(kid, upto), sig)


def _logged(dta: Dta, dev: Device, counter: int) -> entries.DeviceEvent:
    slot = dta.log.store.device_event(dev.pubkey, counter)
    assert slot is not None
    entry = entries.decode(dta.log.store.entry(slot.index))
    assert isinstance(entry, entries.DeviceEvent)
    return entry


def test_an_event_is_logged_then_acknowledged_and_an_outsider_can_check_it(world):
    dta, side = world
    dev = Device()
    dta.enrol(dev)
    before = dta.log.store.size
    side.send(dev.event(7, b"door opened"), dev.kid)
    _check_ack(dta, dev, side.wait_acks(1)[0], 7)
    assert dta.log.store.size == before + 1
    entry = _logged(dta, dev, 7)
    assert (entry.device_key, entry.counter, entry.kind, entry.payload) == (
        dev.pubkey, 7, 0x80, b"door opened")
    assert entry.signature_valid(backend.verify)  # anyone with the device's key
    forged = entries.DeviceEvent(entry.device_key, 7, 0x80, b"door closed", entry.signature,
                                 entry.time_ms)
    assert not forged.signature_valid(backend.verify)
    dta.settled(1)
    [ev] = dta.kinds("event")
    assert (ev.key_id, ev.counter, ev.entry) == (dev.kid.hex(), 7, dta.log.store.size - 1)
    assert dta.gw.intake.counts == {"logged": 1, "duplicate": 0}


def test_a_redelivered_event_is_logged_once_and_acknowledged_again(world):
    dta, side = world
    dev = Device()
    dta.enrol(dev)
    before = dta.log.store.size
    frame = dev.event(1)
    side.send(frame, dev.kid)
    side.wait_acks(1)
    side.send(frame, dev.kid)  # a QoS 1 redelivery or a device retry: the same frame
    acks = side.wait_acks(2)
    for a in acks:
        _check_ack(dta, dev, a, 1)
    assert dta.log.store.size == before + 1
    dta.settled(2)
    assert [e.kind for e in dta.events.events if e.kind in ("event", "duplicate")] == [
        "event", "duplicate"]
    assert dta.kinds("duplicate")[0].entry == dta.kinds("event")[0].entry


def test_events_of_many_devices_are_logged_and_each_device_is_acked_up_to_its_last(world):
    dta, side = world
    devs = [Device() for _ in range(20)]
    for d in devs:
        dta.enrol(d)
    before = dta.log.store.size
    for counter in range(5):
        for d in devs:
            side.send(d.event(counter, b"reading %d" % counter), d.kid)
    # An ack covers every counter up to its own (the device's outbox forgets them all), so a
    # device whose events share a batch gets one ack for the last of them.
    with side._cond:
        assert side._cond.wait_for(lambda: {channel.decode_ack(a)[0] for _, a in side.acks
                                            if channel.decode_ack(a)[1] == 4} == {
            d.kid for d in devs}, WAIT)
    for d in devs:
        mine = [(t, a) for t, a in side.acks if channel.decode_ack(a)[0] == d.kid]
        counters = [channel.decode_ack(a)[1] for _, a in mine]
        assert counters == sorted(set(counters)) and counters[-1] == 4  # rising, to the last
        for frame in mine:
            _check_ack(dta, d, frame, channel.decode_ack(frame[1])[1])
    assert dta.log.store.size == before + 100
    assert all(_logged(dta, d, c).payload == b"reading %d" % c for d in devs for c in range(5))
    dta.settled(100)
    assert dta.gw.intake.counts == {"logged": 100, "duplicate": 0}


def _refusals(dta: Dta, side: Broker, sends, dev: Device) -> None:
    """Run `sends` (each publishes one frame that must be refused), then a valid event from an
    enrolled device: once its ack is in, every refused frame was handled before it."""
    before, acked = dta.log.store.size, len(side.acks)
    for send in sends:
        send()
    side.send(dev.event(99), dev.kid)
    acks = side.wait_acks(acked + 1)
    assert len(acks) == acked + 1  # the sentinel's: nothing refused was acknowledged
    _check_ack(dta, dev, acks[-1], 99)
    assert dta.log.store.size == before + 1  # the sentinel's entry only


def test_frames_the_gateway_must_not_take_get_no_entry_and_no_ack(world, broker):
    dta, side = world
    dev, other, pending, revoked, stranger = (Device() for _ in range(5))
    for d in (dev, other, revoked):
        dta.enrol(d)
    enrolment.revoke(dta.registry, dta.log.append, revoked.kid.hex(), "compromised")
    kid, hello = signed_hello(pending.secret)
    dta.gw.handle_frame(hello, kid)  # a verified hello: registered, pending
    assert dta.registry.get(kid).state == "pending"
    good = other.event(3)
    tampered = bytearray(good)
    tampered[-1] ^= 0x01
    _refusals(dta, side, [
        lambda: side.send(bytes(tampered), other.kid),         # bad signature
        lambda: side.send(other.event(4), dev.kid),            # the topic names another kid
        lambda: side.send(pending.event(1), pending.kid),      # pending, not enrolled
        lambda: side.send(revoked.event(1), revoked.kid),      # revoked
        lambda: side.send(stranger.event(1), stranger.kid),    # never seen
        lambda: side.send(good[:-10], other.kid),              # truncated
        lambda: side.send(good + bytes(600), other.kid),       # over the frame limit
        lambda: side.raw("not-a-kid\u00e9\u202e", good),        # attacker text in the topic
        lambda: side.send(good[:15] + b"\xff" + good[16:], other.kid),  # a counter byte
    ], dev)
    assert dta.registry.rejections() == {
        "event-bad-signature": 2, "event-topic-mismatch": 2, "event-not-enrolled": 1,
        "event-revoked": 1, "event-unknown-device": 1, "event-malformed": 1,
        "event-oversized": 1}
    for d in (other, pending, revoked, stranger):
        for c in (1, 3, 4):
            assert dta.log.store.device_event(d.pubkey, c) is None
    shown = [e.detail for e in dta.kinds("rejected") if e.reason == "event-topic-mismatch"]
    assert any("not-a-kid\\xe9\\u202e" in s for s in shown), shown  # escaped


def test_a_counter_used_for_another_event_is_refused(world):
    dta, side = world
    dev = Device()
    dta.enrol(dev)
    side.send(dev.event(5, b"first"), dev.kid)
    side.wait_acks(1)
    _refusals(dta, side, [lambda: side.send(dev.event(5, b"second"), dev.kid)], dev)
    assert _logged(dta, dev, 5).payload == b"first"
    assert dta.registry.rejections() == {"event-counter-reused": 1}


def test_the_dedup_survives_a_restart_of_the_gateway(world):
    dta, side = world
    dev = Device()
    dta.enrol(dev)
    frame = dev.event(11)
    side.send(frame, dev.kid)
    side.wait_acks(1)
    size = dta.log.store.size
    dta.close()
    dta.open()  # a new process would open the same files the same way
    side.send(frame, dev.kid)
    _check_ack(dta, dev, side.wait_acks(2)[1], 11)
    assert dta.log.store.size == size
    dta.settled(1)
    [dup] = dta.kinds("duplicate")
    assert dup.counter == 11


def test_events_sent_while_the_gateway_is_down_are_delivered_by_the_broker(world):
    dta, side = world
    dev = Device()
    dta.enrol(dev)
    side.send(dev.event(0), dev.kid)
    side.wait_acks(1)
    dta.close()  # the gateway's session stays on the broker (clean session off)
    for c in range(1, 6):
        side.send(dev.event(c), dev.kid)
    dta.open()
    with side._cond:  # the broker's backlog, in order: acked up to the last
        assert side._cond.wait_for(lambda: channel.decode_ack(side.acks[-1][1])[1] == 5, WAIT)
    counters = [channel.decode_ack(a)[1] for _, a in side.acks]
    assert counters == sorted(set(counters))
    assert all(_logged(dta, dev, c) for c in range(6))
    dta.settled(5)
    assert dta.gw.intake.counts == {"logged": 5, "duplicate": 0}
