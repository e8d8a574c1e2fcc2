"""Emulated devices on a serial cable (two linked PTYs from socat), read with pyserial."""

import json
from pathlib import Path

import pytest
import serial

from dta.config import Config
from dta.emulator import EmulatedDevice
from dta.gateway.serial_link import SerialLink
from dta.gateway.service import EventLog, Gateway
from dta.services.serial_pty import PtyPair
from dtacore import serial_frame

HELLO = bytes.fromhex(json.loads(
    (Path(__file__).parents[1] / "vectors/wire/hello.json").read_text())["frame"])


@pytest.fixture
def cable(tmp_path):
    with PtyPair(tmp_path / "pty") as pair:
        yield pair


@pytest.fixture
def serial_gateway(cable, tmp_path):
    gw, events = Gateway(Config(data_dir=tmp_path / "gw")), EventLog()
    gw.listeners.append(events)
    link = SerialLink(gw, str(cable.gateway_end)).start()
    yield gw, events
    link.stop()
    gw.registry.close()


def test_device_registers_over_serial_and_keeps_its_key(cable, serial_gateway, unix_bundle,
                                                        tmp_path):
    gw, events = serial_gateway
    dev = EmulatedDevice(tmp_path / "dev")
    dev.flash(unix_bundle)
    dev.configure(transport="serial", serial_path=str(cable.device_end), once=True)
    runs = [dev.run(), dev.run()]
    assert [r.returncode for r in runs] == [0, 0], runs[0].output
    assert events.wait_for(lambda evs: len(evs) >= 2, 30)
    kid = runs[0].first("identity")["key_id"]
    assert [(e.kind, e.key_id, e.boot) for e in events.events] == [
        ("registered", kid, 1), ("hello", kid, 2)]


def test_line_noise_and_corrupt_records_are_counted_and_skipped(cable, serial_gateway):
    gw, events = serial_gateway
    rec = serial_frame.encode(HELLO)
    bad_crc = bytearray(rec)
    bad_crc[40] ^= 0x01
    with serial.Serial(str(cable.device_end)) as port:
        # noise, a record with a flipped bit, a length over the limit, the hello, its replay,
        # then a record cut off by silence
        port.write(b"boot noise \x00\xff" + bytes(bad_crc) + serial_frame.SYNC + b"\x7f\xff"
                   + rec + rec + rec[:30])
        port.flush()
        assert events.wait_for(lambda evs: len(evs) >= 5, 30)
    kinds = [(e.kind, e.reason) for e in events.events]
    assert kinds == [("rejected", "bad-crc"), ("rejected", "bad-length"), ("registered", None),
                     ("rejected", "replayed-boot"), ("rejected", "cut-record")]
    assert gw.registry.rejections() == {"bad-crc": 1, "bad-length": 1, "replayed-boot": 1,
                                        "cut-record": 1}
    assert len(gw.registry.devices()) == 1
