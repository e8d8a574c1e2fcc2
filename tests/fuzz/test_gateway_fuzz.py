"""Device frames from outside (MQTT payloads, serial records) fed to the gateway with a real
registry (SQLite) and the log beside it: every frame ends in one event, a refused frame changes
nothing but its rejection counter (no device row, no log entry), and an accepted frame is a
hello that decodes and verifies.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dta.config import Config
from dta.gateway.registry import Registry
from dta.gateway.service import Gateway
from dta.log import Log, LogStore
from dtacore import backend, serial_frame, wire
from tests.fuzz import support, world
from tests.fuzz.test_store_fuzz import FixedSigner

FRAMES = world.hellos() + [world.hello(world.DEVICE, 2), world.hello(world.secret("d3"), 1)]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    d = tmp_path_factory.mktemp("gateway")
    cfg = Config(data_dir=d)
    registry = Registry(cfg.registry_db)
    store = LogStore(cfg.log_db, origin=world.ORIGIN)
    gw = Gateway(cfg, registry)
    gw.fuzz_log = Log(store, FixedSigner(), window_seconds=3600, max_entries=10**9)
    yield gw
    store.close()
    registry.close()


def _state(gw: Gateway):
    return [d.as_dict() for d in gw.registry.devices()], gw.fuzz_log.store.refresh()


@support.fuzz_settings(0.5)
@given(frame=support.inputs(FRAMES), topic=st.booleans())
def test_frames_into_the_gateway(gateway, frame, topic):
    before = _state(gateway)
    rejected = dict(gateway.registry.rejections())
    claimed = None
    if topic and len(frame) > 14:
        claimed = frame[6:14].hex()  # the key id the frame claims, as its MQTT topic would
    event = gateway.receive(lambda: gateway.handle_frame(frame, claimed), "fuzz")
    assert event.kind in ("registered", "hello", "rejected"), event
    if event.kind == "rejected":
        support.tally("gateway frame", False)
        assert _state(gateway) == before
        after = gateway.registry.rejections()
        assert sum(after.values()) == sum(rejected.values()) + 1
        return
    support.tally("gateway frame", True)
    hello = wire.verify_hello(wire.decode_hello(frame), backend.verify)
    assert event.key_id == hello.key_id.hex()


@support.fuzz_settings(0.3)
@given(stream=support.inputs([serial_frame.encode(f) for f in FRAMES], max_random=600))
def test_serial_records_into_the_gateway(gateway, stream):
    # What dta.gateway.serial_link does with the bytes of a line: deframe, then one event each.
    for kind, item in serial_frame.Deframer().feed(stream):
        before = _state(gateway)
        if kind == "error":
            event = gateway.count_link_error(item, "fuzz")
        else:
            event = gateway.receive(lambda p=item: gateway.handle_frame(p), "fuzz")
        assert event.kind in ("registered", "hello", "rejected"), event
        if event.kind == "rejected":
            assert _state(gateway) == before
    support.tally("gateway serial", True)
