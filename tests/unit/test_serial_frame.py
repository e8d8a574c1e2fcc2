"""Serial records: byte-exact vector, resynchronisation, every corruption refused."""

import json
import os
from pathlib import Path

import pytest

from dtacore import serial_frame as sf
from dtacore import wire
from dtacore.errors import EncodeError

HELLO = bytes.fromhex(json.loads(
    (Path(__file__).parents[1] / "vectors/wire/hello.json").read_text())["frame"])
VEC = json.loads((Path(__file__).parents[1] / "vectors/wire/serial.json").read_text())


def test_vector_is_byte_exact():
    assert sf.encode(HELLO).hex() == VEC["record"]
    assert VEC["record"].startswith("d7a50087") and VEC["crc"] == VEC["record"][-8:]


def test_roundtrip_in_every_split():
    rec = sf.encode(HELLO)
    for cut in range(len(rec) + 1):
        d = sf.Deframer()
        assert d.feed(rec[:cut]) + d.feed(rec[cut:]) == [("frame", HELLO)]


def test_noise_before_between_and_after_is_skipped():
    rec = sf.encode(HELLO)
    noise = bytes(b for b in os.urandom(300) if b != 0xD7)
    d = sf.Deframer()
    assert d.feed(noise + rec + noise + rec + noise[:7]) == [("frame", HELLO)] * 2


def test_every_bit_flip_is_refused_and_the_next_record_still_arrives():
    rec = sf.encode(HELLO)
    for i in range(2, len(rec)):
        for bit in range(8):
            bad = bytearray(rec)
            bad[i] ^= 1 << bit
            d = sf.Deframer()
            out = d.feed(bytes(bad) + rec)
            if not out or out[-1][0] != "frame":  # a length corrupted upwards: wait for quiet
                out += d.idle()
            assert out[-1] == ("frame", HELLO), (i, bit)
            assert all(k == "error" for k, _ in out[:-1]) and len(out) >= 2, (i, bit, out)


def test_lengths_outside_limits():
    bad = sf.SYNC + (wire.MAX_FRAME + 1).to_bytes(2, "big") + bytes(8)
    assert sf.Deframer().feed(bad) == [("error", "bad-length")]
    assert sf.Deframer().feed(sf.SYNC + b"\x00\x00" + bytes(8)) == [("error", "bad-length")]
    with pytest.raises(EncodeError):
        sf.encode(b"")
    with pytest.raises(EncodeError):
        sf.encode(bytes(wire.MAX_FRAME + 1))


def test_cut_record_waits_for_more_then_is_dropped_when_quiet():
    rec = sf.encode(HELLO)
    d = sf.Deframer()
    assert d.feed(rec[:-1]) == []
    assert d.feed(rec[-1:]) == [("frame", HELLO)]
    assert d.feed(rec[:50]) == []
    assert d.idle() == [("error", "cut-record")]
    assert d.feed(rec) == [("frame", HELLO)] and d.idle() == []
