"""Emulated ESP32s (real firmware, MicroPython VM, 64 KiB heap) prove themselves to a real
gateway through a real mosquitto broker."""

import os
import threading

import paho.mqtt.client as mqtt

from dta.emulator import EmulatedDevice
from dtacore import entries, wire


def boot(dev: EmulatedDevice):
    run = dev.run()
    assert run.returncode == 0, run.output
    return run


def test_three_devices_register(make_device, gateway):
    runs = [boot(make_device(f"d{i}")) for i in range(3)]
    assert gateway.wait_events(3)
    kids = sorted(r.first("identity")["key_id"] for r in runs)
    devices = gateway.registry.devices()
    assert sorted(d.key_id for d in devices) == kids and len(set(kids)) == 3
    assert all(d.state == "pending" and d.board == "unix" and d.boot == 1
               for d in devices)
    assert [e.kind for e in gateway.events.events] == ["registered"] * 3


def test_restarted_device_keeps_its_key(make_device, gateway):
    dev = make_device("r")
    first, second = boot(dev), boot(dev)
    assert first.first("identity")["created"] is True
    assert second.first("identity")["created"] is False
    assert first.first("identity")["key_id"] == second.first("identity")["key_id"]
    assert gateway.wait_events(2)
    assert [e.kind for e in gateway.events.events] == ["registered", "hello"]
    (dev_row,) = gateway.registry.devices()
    assert dev_row.boot == 2 and dev_row.hellos == 2
    assert oct(os.stat(dev.root / "key.bin").st_mode & 0o777) == "0o600"


def test_interrupted_key_write_is_ignored(make_device, gateway):
    dev = make_device("t")
    kid = boot(dev).first("identity")["key_id"]
    (dev.root / "key.bin.tmp").write_bytes(b"DTAK\x01\x20" + b"\xff" * 7)  # torn write
    again = boot(dev)
    assert again.first("identity")["key_id"] == kid
    assert not (dev.root / "key.bin.tmp").exists()


def test_damaged_key_is_refused_not_replaced(make_device, gateway):
    dev = make_device("k")
    boot(dev)
    key = bytearray((dev.root / "key.bin").read_bytes())
    key[10] ^= 1
    (dev.root / "key.bin").write_bytes(bytes(key))
    run = dev.run()
    assert run.returncode == 4
    assert run.first("refuse")["reason"] == "identity"
    assert (dev.root / "key.bin").read_bytes() == bytes(key)
    assert run.first("hello") is None


def _stuck_then(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_stuck_entropy_source_refuses_to_make_keys(make_device, gateway, tmp_path):
    src = _stuck_then(tmp_path, "stuck", bytes([0x42]) * 4096)
    dev = make_device("s", entropy_path=src)
    run = dev.run()
    assert run.returncode == 3, run.output
    refusal = run.first("refuse")
    assert refusal["reason"] == "entropy" and "repetition count" in refusal["detail"]
    assert not (dev.root / "key.bin").exists()
    assert run.first("hello") is None and gateway.registry.devices() == []


def test_biased_entropy_source_refuses_to_make_keys(make_device, gateway, tmp_path):
    # A quarter of the bytes are 0x00, never twice in a row: only the proportion test sees it.
    data = bytearray(os.urandom(8192))
    for i in range(len(data)):
        if i % 4 == 0:
            data[i] = 0
        elif data[i] == 0:
            data[i] = 1
    src = _stuck_then(tmp_path, "biased", bytes(data))
    run = make_device("b", entropy_path=src).run()
    assert run.returncode == 3, run.output
    assert "adaptive proportion" in run.first("refuse")["detail"]


def test_short_entropy_source_refuses(make_device, gateway, tmp_path):
    src = _stuck_then(tmp_path, "short", os.urandom(100))
    run = make_device("e", entropy_path=src).run()
    assert run.returncode == 3 and "returned" in run.first("refuse")["detail"]


def test_malformed_device_config_is_refused(make_device, gateway):
    dev = make_device("c")
    (dev.root / "config.json").write_text('{"mqtt_port": 1883, "colour": "red"}')
    run = dev.run()
    assert run.returncode == 2 and "colour" in run.first("refuse")["detail"]


def test_unreachable_broker_is_reported(make_device, gateway):
    from dta.services.mosquitto import free_port
    run = make_device("o", mqtt_port=free_port()).run()
    assert run.returncode == 5 and run.first("offline") is not None
    assert run.first("identity") is not None  # the key was still made and kept


class Sniffer:
    """A second MQTT client that records what devices publish."""

    def __init__(self, broker, topic):
        self.frames = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_message = lambda c, u, m: self.frames.append((m.topic, bytes(m.payload)))
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.connect(broker.host, broker.port)
        self.client.subscribe(topic, qos=1)
        self.client.loop_start()
        if not subscribed.wait(10):
            raise RuntimeError("sniffer subscription not acknowledged")

    def publish(self, topic, payload):
        self.client.publish(topic, payload, qos=1).wait_for_publish(10)

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


def test_replayed_and_mutated_hellos_are_rejected(make_device, gateway, broker):
    prefix = gateway.cfg.mqtt.topic_prefix
    dev = make_device("m")
    run = boot(dev)
    assert gateway.wait_events(1)
    kid = run.first("identity")["key_id"]
    # Capture the device's real hello on the broker during a second boot, then replay it,
    # mutate it and cut it.
    sniff = Sniffer(broker, f"{prefix}/hello/#")
    boot(dev)
    assert gateway.wait_events(2)
    before = gateway.registry.get(kid)
    topic, frame = next(f for f in sniff.frames if f[0].endswith(kid))
    expected = 2
    sniff.publish(topic, frame)  # replay of the latest hello
    expected += 1
    for i in range(len(frame)):  # every byte flipped in turn
        bad = bytearray(frame)
        bad[i] ^= 0xFF
        sniff.publish(topic, bytes(bad))
        expected += 1
    for n in (0, 5, 6, 40, len(frame) - 1):  # truncated
        sniff.publish(topic, frame[:n])
        expected += 1
    sniff.publish(topic, frame + bytes(wire.MAX_FRAME))  # oversized
    expected += 1
    sniff.close()
    assert gateway.wait_events(expected)
    rejected = gateway.kinds("rejected")
    assert len(rejected) == expected - 2
    reasons = gateway.registry.rejections()
    assert reasons.get("replayed-boot") == 1 and reasons.get("oversized") == 1
    assert sum(reasons.values()) == expected - 2
    assert gateway.registry.get(kid) == before and len(gateway.registry.devices()) == 1


def test_enrolment_is_logged_when_approved_not_at_hello(make_device, gateway, transparency_log):
    from dta.gateway import enrolment

    log = transparency_log
    dev = make_device("l")
    boot(dev)
    boot(dev)  # a second boot is a hello, not a new enrolment
    assert gateway.wait_events(2)
    (reg,) = gateway.kinds("registered")
    assert log.store.size == 0  # a hello from a new key costs the log nothing
    device, changed = enrolment.enroll(gateway.registry, log.append, reg.key_id)
    assert changed and device.state == "enrolled" and device.enrolled_entry == 0
    assert log.store.size == 1
    entry = entries.decode(log.store.entry(0))
    assert isinstance(entry, entries.DeviceEnrolled)
    assert entry.device_key == device.pubkey and entry.board == b"unix"


def test_no_enrolment_without_its_log_entry(make_device, gateway, tmp_path):
    import pytest

    from dta.gateway import enrolment

    def broken(entry):
        raise OSError("disk full")

    boot(make_device("n"))
    assert gateway.wait_events(1)
    (reg,) = gateway.kinds("registered")
    with pytest.raises(OSError, match="disk full"):
        enrolment.enroll(gateway.registry, broken, reg.key_id)
    assert gateway.registry.get(reg.key_id).state == "pending"


def test_hello_sent_while_the_gateway_is_down_is_delivered_on_restart(make_device, gateway):
    from dta.gateway.service import EventLog, Gateway

    gateway.gw.stop()  # persistent session: the broker queues QoS 1 hellos for it
    kid = boot(make_device("q")).first("identity")["key_id"]
    assert gateway.registry.devices() == []
    again = Gateway(gateway.cfg, registry=gateway.registry)
    events = EventLog()
    again.listeners.append(events)
    again.start()
    try:
        assert events.wait_for(lambda evs: len(evs) >= 1, 30)
        assert [(e.kind, e.key_id) for e in events.events] == [("registered", kid)]
    finally:
        again.stop()


def test_gateway_rides_out_a_broker_restart(unix_bundle, tmp_path):
    from dta.config import Config, MqttConfig
    from dta.gateway.service import EventLog, Gateway
    from dta.services.mosquitto import Mosquitto

    first = Mosquitto(tmp_path / "broker", persistence=True).start()
    cfg = Config(data_dir=tmp_path / "gw",
                 mqtt=MqttConfig(port=first.port, client_id="dta-gateway-restart"))
    gw, events = Gateway(cfg), EventLog()
    gw.listeners.append(events)
    gw.start()
    first.stop()
    second = Mosquitto(tmp_path / "broker", port=first.port, persistence=True).start()
    try:
        dev = EmulatedDevice(tmp_path / "dev")
        dev.flash(unix_bundle)
        dev.configure(mqtt_port=second.port, once=True)
        kid = boot(dev).first("identity")["key_id"]
        # paho reconnects by itself (back-off from 1 s); the persistent session and QoS 1 keep
        # the hello for the gateway until it is back.
        assert events.wait_for(lambda evs: len(evs) >= 1, 60)
        assert [(e.kind, e.key_id) for e in events.events] == [("registered", kid)]
    finally:
        gw.stop()
        second.stop()
