"""Typed log entries: byte-exact vectors (both directions), strict decoding, salts, and the same
bytes decoded on the MicroPython VM."""

import pytest

from dta.services import micropython as mp
from dtacore import entries as E
from dtacore.errors import DecodeError, EncodeError

SALT = bytes(range(16))
T = 1764000000000
PK = bytes.fromhex("02" + "11" * 32)
PK2 = bytes.fromhex("03" + "22" * 32)

# (entry, exact encoding). The same vectors are printed in docs/log.md.
VECTORS = [
    (E.ShareIssued(b"https://id.example.org alice", 7, PK, T, SALT),
     "0101000102030405060708090a0b0c0d0e0f0000019ab697e80000000007001c68747470733a2f2f69642e65"
     "78616d706c652e6f726720616c69636502111111111111111111111111111111111111111111111111111111"
     "1111111111"),
    (E.ShareRefused(b"client-42", 7, E.REFUSED_NOT_ENROLLED, T, SALT),
     "0102000102030405060708090a0b0c0d0e0f0000019ab697e800000000070009636c69656e742d343202"),
    (E.DeviceEnrolled(PK, b"esp32-c3", T, SALT),
     "0103000102030405060708090a0b0c0d0e0f0000019ab697e800021111111111111111111111111111111111"
     "1111111111111111111111111111110865737033322d6333"),
    (E.DeviceEvent(PK, 5, 2, b"boot", b"\x33" * 64, T),
     "01040000019ab697e80002111111111111111111111111111111111111111111111111111111111111111100"
     "000005020004626f6f7433333333333333333333333333333333333333333333333333333333333333333333"
     "333333333333333333333333333333333333333333333333333333333333"),
    (E.KeyRotation(E.ROTATE_SHARE_EPOCH, 8, PK, PK2, T),
     "01050000019ab697e80002000000080211111111111111111111111111111111111111111111111111111111"
     "11111111032222222222222222222222222222222222222222222222222222222222222222"),
    (E.CheckpointAnchored(3, 1000, b"\x44" * 32, b"\x55" * 32, 840000, T),
     "01060000019ab697e800000000000000000300000000000003e8444444444444444444444444444444444444"
     "4444444444444444444444444444555555555555555555555555555555555555555555555555555555555555"
     "5555000cd140"),
    (E.DeviceRevoked(PK, E.REVOKED_COMPROMISED, T, SALT),
     "0107000102030405060708090a0b0c0d0e0f0000019ab697e800021111111111111111111111111111111111"
     "11111111111111111111111111111102"),
]


@pytest.mark.parametrize("entry,hexdata", VECTORS, ids=lambda x: type(x).__name__)
def test_vector_both_directions(entry, hexdata):
    data = bytes.fromhex(hexdata)
    assert entry.encode() == data
    back = E.decode(data)
    assert type(back) is type(entry) and back == entry and back.encode() == data


def test_every_type_has_a_vector():
    assert {type(e).TYPE for e, _ in VECTORS} == set(E.TYPES)


def test_salted_types_get_fresh_salts():
    a = E.ShareIssued(b"alice", 1, PK, T)
    b = E.ShareIssued(b"alice", 1, PK, T)
    assert len(a.salt) == 16 and a.salt != b.salt and a.encode() != b.encode()
    assert E.DeviceEnrolled(PK, b"x", T).salt != E.DeviceEnrolled(PK, b"x", T).salt


@pytest.mark.parametrize("entry,hexdata", VECTORS, ids=lambda x: type(x).__name__)
def test_truncation_and_trailing_bytes(entry, hexdata):
    data = bytes.fromhex(hexdata)
    for cut in range(len(data)):
        with pytest.raises(DecodeError):
            E.decode(data[:cut])
    with pytest.raises(DecodeError, match="trailing"):
        E.decode(data + b"\x00")


def test_strict_header_and_limits():
    good = bytes.fromhex(VECTORS[1][1])
    with pytest.raises(DecodeError, match="version"):
        E.decode(b"\x02" + good[1:])
    with pytest.raises(DecodeError, match="type"):
        E.decode(b"\x01\xff" + good[2:])
    with pytest.raises(DecodeError, match="MAX_ENTRY_SIZE"):
        E.decode(b"\x01\x01" + bytes(E.MAX_ENTRY_SIZE))
    with pytest.raises(EncodeError, match="limit"):
        E.ShareIssued(b"x" * (E.MAX_SUBJECT + 1), 1, PK, T).encode()
    with pytest.raises(EncodeError, match="limit"):
        E.DeviceEvent(PK, 1, 1, bytes(E.MAX_EVENT_PAYLOAD + 1), bytes(64), T).encode()
    with pytest.raises(EncodeError, match="limit"):
        E.DeviceEnrolled(PK, b"b" * (E.MAX_BOARD + 1), T).encode()
    # A length prefix over its limit is refused before reading the field.
    over = bytearray(good)
    over[30:32] = (E.MAX_SUBJECT + 1).to_bytes(2, "big")
    with pytest.raises(DecodeError, match="limit"):
        E.decode(bytes(over))
    with pytest.raises(DecodeError, match="reason"):
        E.decode(good[:-1] + b"\x09")
    with pytest.raises(EncodeError, match="length"):
        E.ShareIssued(b"a", 1, PK[:32], T)


def test_device_event_digest_is_domain_separated():
    ev = E.DeviceEvent(PK, 5, 2, b"boot", bytes(64), T)
    d = ev.signed_digest()
    assert len(d) == 32
    assert d != E.event_digest(PK, 6, 2, b"boot") != E.event_digest(PK, 5, 2, b"boot!")
    # host receive time is not signed by the device
    assert E.DeviceEvent(PK, 5, 2, b"boot", bytes(64), T + 1).signed_digest() == d


def test_vectors_decode_on_vm():
    lines = ";".join("ok(%r)" % h for _, h in VECTORS)
    code = ("from dtacore import entries as E\nfrom binascii import unhexlify as ux\n"
            "def ok(h):\n    e = E.decode(ux(h))\n    assert e.encode() == ux(h)\n"
            "    print(e.TYPE)\n" + lines + "\n"
            "try:\n    E.decode(ux(%r) + b'\\x00')\nexcept E.DecodeError:\n    print('strict')\n"
            % VECTORS[0][1])
    res = mp.run_code(code, heapsize="64k")
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.decode().split() == ["1", "2", "3", "4", "5", "6", "7", "strict"]


def test_device_event_signature_roundtrip():
    from dtacore import backend

    secret = bytes(31) + b"\x11"
    key = backend.pubkey(secret)
    digest = E.event_digest(key, 9, 3, b"door open")
    ev = E.DeviceEvent(key, 9, 3, b"door open", backend.sign(secret, digest), T)
    back = E.decode(ev.encode())
    assert back.signature_valid(backend.verify)
    forged = E.DeviceEvent(key, 10, 3, b"door open", ev.signature, T)
    assert not forged.signature_valid(backend.verify)
