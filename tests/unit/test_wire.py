"""The HELLO frame: byte-exact vector, strict decoding, every mutation rejected."""

import json
import struct
from pathlib import Path

import coincurve
import pytest

from dtacore import ecdsa, wire
from dtacore.errors import DecodeError, EncodeError, ProtocolError, VerifyError

VEC = json.loads((Path(__file__).parents[1] / "vectors/wire/hello.json").read_text())
FRAME = bytes.fromhex(VEC["frame"])


def host_verify(pub, digest, sig):
    return coincurve.PublicKey(pub).verify(
        coincurve.ecdsa.cdata_to_der(coincurve.ecdsa.deserialize_compact(sig)), digest, hasher=None)


def test_vector_decodes_to_its_fields():
    h = wire.verify_hello(wire.decode_hello(FRAME), host_verify)
    assert (h.key_id.hex(), h.pubkey.hex(), h.boot, h.board, h.firmware) == (
        VEC["key_id"], VEC["pubkey"], VEC["boot"], VEC["board"], VEC["firmware"])
    assert h.digest().hex() == VEC["digest"]


def test_vector_encodes_byte_exact_with_firmware_ecdsa():
    unsigned = wire.hello_unsigned(bytes.fromhex(VEC["pubkey"]), VEC["boot"], VEC["board"],
                                   VEC["firmware"])
    sig = ecdsa.sign(bytes.fromhex(VEC["secret"]), wire.hello_digest(unsigned))
    assert unsigned + sig == FRAME


def test_header_layout():
    assert FRAME[:2] == b"DT" and FRAME[2] == wire.VERSION and FRAME[3] == wire.TYPE_HELLO
    assert struct.unpack(">H", FRAME[4:6])[0] == len(FRAME) - wire.HEADER_LEN


@pytest.mark.parametrize("n", range(len(FRAME)))
def test_every_truncation_is_a_decode_error(n):
    with pytest.raises(DecodeError):
        wire.decode_hello(FRAME[:n])


def test_trailing_bytes_rejected():
    with pytest.raises(DecodeError, match="trailing"):
        wire.decode_hello(FRAME + b"\x00")


def test_oversized_rejected_before_parsing():
    with pytest.raises(DecodeError, match="MAX_FRAME"):
        wire.decode_hello(FRAME + bytes(wire.MAX_FRAME))


def test_every_bit_flip_is_rejected():
    for i in range(len(FRAME)):
        for bit in range(8):
            bad = bytearray(FRAME)
            bad[i] ^= 1 << bit
            with pytest.raises(ProtocolError):
                wire.verify_hello(wire.decode_hello(bytes(bad)), host_verify)


def test_high_s_twin_rejected():
    # (r, n - s) is a valid signature too, but not a low-S one: refused.
    from dtacore.secp256k1 import N
    s = int.from_bytes(FRAME[-32:], "big")
    twin = FRAME[:-32] + (N - s).to_bytes(32, "big")
    with pytest.raises(VerifyError):
        wire.verify_hello(wire.decode_hello(twin), host_verify)
    with pytest.raises(VerifyError):
        wire.verify_hello(wire.decode_hello(twin), ecdsa.verify)


@pytest.mark.parametrize("board,firmware",
                         [("", "1"), ("x" * 33, "1"), ("a b", "1"), ("ok", "\x7f")])
def test_bad_labels_refused_by_encoder(board, firmware):
    with pytest.raises(EncodeError):
        wire.hello_unsigned(bytes.fromhex(VEC["pubkey"]), 1, board, firmware)


def test_wrong_type_and_version():
    for i, v in ((2, 2), (3, 0x7F)):
        bad = bytearray(FRAME)
        bad[i] = v
        with pytest.raises(DecodeError):
            wire.decode_hello(bytes(bad))
