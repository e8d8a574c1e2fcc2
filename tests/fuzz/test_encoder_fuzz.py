"""The shared core's encoders given any arguments: each returns an encoding that decodes back to
what it was given, or raises dtacore's EncodeError (the caller's mistake: never DecodeError,
which means bad bytes from outside, and never an untyped error). Decoders still raise
DecodeError for a field a constructor refuses (entries.decode maps it).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dtacore import anchor, birth, der, merkle, note, serial_frame, wire
from dtacore import entries as E
from dtacore.errors import DecodeError, EncodeError
from dtanode import records
from tests.fuzz import support, world

JUNK = st.one_of(st.none(), st.booleans(), st.floats(allow_nan=True),
                 st.sampled_from([-1, 0, 1, 255, 256, 2**32, 2**63, 2**64, -(2**64), 10**40]),
                 st.integers(), st.binary(max_size=70), st.text(max_size=40),
                 st.sampled_from(support.ODD_CHARS), st.lists(st.integers(0, 255), max_size=3))


def arg(valid):
    """Mostly a plausible value, sometimes anything at all."""
    return st.one_of(valid, valid, JUNK)


PUB = st.sampled_from([world.DEVICE_PUB, world.IDENTITY_PUB, b"\x02" + bytes(32),
                       b"\x04" + bytes(32), bytes(33)])
H32 = st.binary(min_size=32, max_size=32)
SIG = st.binary(min_size=64, max_size=64)
U = st.one_of(st.integers(0, 2**64 + 1), st.sampled_from([0, 2**32 - 1, 2**32, 2**64 - 1]))
LABEL = st.one_of(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7F), max_size=34),
                  st.binary(max_size=34))
NAME = st.one_of(st.sampled_from([world.ORIGIN, "o" * 128, "o" * 129, "a b", "a+b", "\u00e9"]),
                 st.text(max_size=130))


def _sign(digest):
    return world.sign(world.IDENTITY, digest)


def roundtrip_hello(out, pub, boot, board, firmware):
    h = wire.decode_hello(out + bytes(64))
    assert (h.pubkey, h.boot) == (pub, boot)
    assert h.board.encode() == (board.encode() if isinstance(board, str) else board)
    assert h.firmware.encode() == (firmware.encode() if isinstance(firmware, str) else firmware)


def roundtrip_note(out, origin, size, root, key_name):
    cp = note.parse_checkpoint(out)
    assert (cp.origin, cp.size, cp.root) == (origin, size, root)
    assert note.verify_checkpoint(out, key_name, world.IDENTITY_PUB)


def roundtrip_entry(out, *args):
    assert E.decode(out).encode() == out


def roundtrip_serial(out, payload):
    assert serial_frame.Deframer().feed(out) == [("frame", payload)]


def roundtrip_inclusion(out, index, size, path):
    assert tuple(merkle.decode_inclusion(out)) == (index, size, list(path))


def roundtrip_consistency(out, size1, size2, path):
    assert tuple(merkle.decode_consistency(out)) == (size1, size2, list(path))


def _entry(cls):
    return lambda *a: cls(*a).encode()


ENCODERS = {
    "wire.hello_unsigned": (wire.hello_unsigned, (arg(PUB), arg(U), arg(LABEL), arg(LABEL)),
                            roundtrip_hello),
    "wire.header": (wire.header, (arg(st.integers(0, 255)), arg(st.integers(0, 600))), None),
    "note.sign_checkpoint": (lambda o, s, r, k: note.sign_checkpoint(o, s, r, k,
                                                                     world.IDENTITY_PUB, _sign),
                             (arg(NAME), arg(U), arg(H32), arg(NAME)), roundtrip_note),
    "note.signature_line": (note.signature_line, (arg(NAME), arg(PUB), arg(SIG)), None),
    "note.text_digest": (note.text_digest, (arg(st.text()),), None),
    "entries.ShareIssued": (_entry(E.ShareIssued), (arg(st.binary(max_size=600)), arg(U),
                                                    arg(PUB), arg(U)), roundtrip_entry),
    "entries.ShareRefused": (_entry(E.ShareRefused), (arg(st.binary(max_size=600)), arg(U),
                                                      arg(st.integers(0, 6)), arg(U)),
                             roundtrip_entry),
    "entries.DeviceEnrolled": (_entry(E.DeviceEnrolled), (arg(PUB), arg(st.binary(max_size=40)),
                                                          arg(U)), roundtrip_entry),
    "entries.DeviceEvent": (_entry(E.DeviceEvent), (arg(PUB), arg(U), arg(st.integers(0, 300)),
                                                    arg(st.binary(max_size=300)),
                                                    arg(SIG), arg(U)),
                            roundtrip_entry),
    "entries.KeyRotation": (_entry(E.KeyRotation), (arg(st.integers(0, 4)), arg(U), arg(PUB),
                                                    arg(PUB), arg(U)), roundtrip_entry),
    "entries.CheckpointAnchored": (_entry(E.CheckpointAnchored), (arg(U), arg(U), arg(H32),
                                                                  arg(H32), arg(U), arg(U)),
                                   roundtrip_entry),
    "entries.DeviceRevoked": (_entry(getattr(E, "DeviceRevoked", E.DeviceEnrolled)),
                              (arg(PUB), arg(st.integers(0, 4)), arg(U)), roundtrip_entry),
    "entries.event_digest": (E.event_digest, (arg(PUB), arg(U), arg(st.integers(0, 300)),
                                              arg(st.binary(max_size=300))), None),
    "merkle.encode_inclusion": (lambda i, s, p: merkle.encode_inclusion(index=i, size=s, path=p),
                                (arg(U), arg(U), arg(st.lists(H32, max_size=66))),
                                roundtrip_inclusion),
    "merkle.encode_consistency": (lambda a, b, p: merkle.encode_consistency(size1=a, size2=b,
                                                                            path=p),
                                  (arg(U), arg(U), arg(st.lists(H32, max_size=66))),
                                  roundtrip_consistency),
    "serial_frame.encode": (serial_frame.encode, (arg(st.binary(max_size=520)),),
                            roundtrip_serial),
}

# The encoders of the anchor payload, the Birth Record, DER signatures and device records: the
# same property (issue 14 found them raising TypeError for the wrong Python type).
OTHERS = {
    "anchor.encode_checkpoint": (anchor.encode_checkpoint, (arg(H32), arg(U), arg(U), arg(H32)),
                                 None),
    "anchor.op_return_script": (anchor.op_return_script, (arg(st.binary(max_size=90)),), None),
    "birth.encode": (lambda *a: birth.encode(birth.BirthRecord(*a)),
                     (arg(st.text(max_size=70)), arg(PUB), arg(H32), arg(H32),
                      arg(st.text(max_size=40)), arg(st.sampled_from(["regtest", "x"])),
                      arg(U)), None),
    "der.sig_to_der": (der.sig_to_der, (arg(SIG),), None),
    "records.encode": (records.encode, (arg(st.just(b"DTKY")), arg(st.binary(max_size=300))),
                       None),
}


def _check(name, table, tmp_values):
    fn, params, roundtrip = table[name]

    @support.fuzz_settings(0.3)
    @given(args=st.tuples(*params))
    def run(args):
        try:
            out = fn(*args)
        except EncodeError:
            support.tally(f"enc:{name}", False)
            return
        except Exception as exc:  # noqa: BLE001 (the property: nothing but EncodeError)
            raise AssertionError(f"{name}{args!r:.300} raised {type(exc).__name__}: {exc}") \
                from exc
        support.tally(f"enc:{name}", True)
        if roundtrip is not None:
            roundtrip(out, *args)

    run()


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_encoder_raises_only_encode_error(name):
    _check(name, ENCODERS, None)


@pytest.mark.parametrize("name", sorted(OTHERS))
def test_other_encoders_raise_only_encode_error(name):
    _check(name, OTHERS, None)


def test_decoders_still_raise_decode_error_for_refused_fields():
    refused = E.ShareRefused(b"s", 1, E.REFUSED_POLICY, 5, bytes(16)).encode()
    with pytest.raises(DecodeError, match="reason"):
        E.decode(refused[:-1] + b"\x09")
    rotation = E.KeyRotation(E.ROTATE_DEVICE, 1, world.DEVICE_PUB, world.DEVICE_PUB, 5).encode()
    with pytest.raises(DecodeError, match="key kind"):
        E.decode(rotation[:10] + b"\x00" + rotation[11:])
    with pytest.raises(EncodeError):
        wire.header(wire.TYPE_HELLO, wire.MAX_BODY + 1)
    with pytest.raises(EncodeError):
        note.checkpoint_text("bad origin", 1, bytes(32))
    with pytest.raises(DecodeError):
        note.parse_checkpoint(world.checkpoint(3).replace(world.ORIGIN, "bad origin", 1))
