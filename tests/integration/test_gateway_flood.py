"""What a flood of fresh keys costs: 300 valid hellos from 300 new keys (real signatures, the
firmware's frame format) through a real gateway over a real broker become at most one minute's
worth of pending devices, a bounded pending table, no log entries, and a bounded number of log
lines; known devices are never rate-limited."""

import logging

import paho.mqtt.client as mqtt

from dta.config import Config, GatewayConfig, MqttConfig
from dta.gateway import enrolment
from dta.gateway.registry import EVICTED, PENDING
from dta.gateway.service import REFUSAL_LINES_PER_WINDOW, EventLog, Gateway
from tests.fixtures.fleet import signed_hello

FLOOD = 300


def test_a_flood_of_new_keys_is_bounded(broker, tmp_path, caplog):
    cfg = Config(data_dir=tmp_path / "gw",
                 mqtt=MqttConfig(host=broker.host, port=broker.port, topic_prefix="flood/v1",
                                 client_id="dta-flood-test"),
                 gateway=GatewayConfig(new_devices_per_minute=20,
                                       new_devices_per_source_per_minute=20, max_pending=8))
    gw, events = Gateway(cfg), EventLog()
    gw.listeners.append(events)
    known_secret = bytes(31) + b"\x07"
    known, frame = signed_hello(known_secret, boot=1)
    assert gw.handle_frame(frame, known, source="serial test").kind == "registered"
    enrolment.enroll(gw.registry, lambda entry: 0, known)  # enrolled: never evicted
    gw.start()
    caplog.set_level(logging.WARNING, logger="dta.gateway")
    try:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="flooder")
        client.connect(broker.host, broker.port)
        client.loop_start()
        for _ in range(FLOOD):
            kid, frame = signed_hello()
            client.publish(f"flood/v1/hello/{kid}", frame, qos=1)
        _, again = signed_hello(known_secret, boot=2)  # a known device, after the flood
        client.publish(f"flood/v1/hello/{known}", again, qos=1).wait_for_publish(30)
        client.disconnect()
        client.loop_stop()
        assert events.wait_for(lambda evs: len(evs) >= FLOOD + 2, 60)
    finally:
        gw.stop()
    kinds = [e.kind for e in events.events]
    # the serial device took one token of the overall minute's worth, the flood the rest
    assert kinds.count("registered") == 1 + 19
    assert kinds.count("rejected") == FLOOD - 19
    assert {e.reason for e in events.events if e.kind == "rejected"} == {"rate-limited"}
    assert events.events[-1].kind == "hello" and events.events[-1].key_id == known
    counts = gw.registry.rejections()
    assert counts["rate-limited"] == FLOOD - 19 and counts[EVICTED] == 19 - 8
    assert len(gw.registry.devices(PENDING)) == 8
    assert gw.registry.get(known).boot == 2  # the enrolled device was never evicted
    for what in ("rate-limited", "evicted"):
        lines = [r for r in caplog.records if what in r.getMessage()]
        assert len(lines) == REFUSAL_LINES_PER_WINDOW, what
    assert not (tmp_path / "gw" / "log.sqlite3").exists()  # nothing reached the log
