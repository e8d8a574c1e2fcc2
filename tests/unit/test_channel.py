"""The device <-> D-TA channel (dtacore.channel) and vouchers (dtacore.voucher): byte-exact
frames both ways, strict decoding (truncation, trailing bytes, wrong types, bad lengths), the
receipt reassembly, signed events and acknowledgements, and the same verdicts on the VM."""

import hashlib

import pytest

from dta.services import micropython as mp
from dta.signing import Signer, verify
from dtacore import channel as C
from dtacore import entries, voucher
from dtacore.errors import DecodeError, EncodeError, VerifyError

DTA8 = bytes.fromhex("a1a2a3a4a5a6a7a8")
KID = bytes.fromhex("3f2a1b0c4d5e6f70")
DEVICE = Signer(b"\x05" * 32)
DTA = Signer(b"\x06" * 32)
DTA_ID = hashlib.sha256(b"a birth record").digest()


def test_channel_frame_bytes_and_topics():
    frame = C.encode(C.TYPE_TO_DTA, DTA8, KID, b"\x11\xe8")
    assert frame.hex() == "445401100012" + DTA8.hex() + KID.hex() + "11e8"
    assert C.decode(frame) == (C.TYPE_TO_DTA, DTA8, KID, b"\x11\xe8")
    assert C.topic_to_dta("dta/v1", DTA8, KID) == "dta/v1/dta/a1a2a3a4a5a6a7a8/3f2a1b0c4d5e6f70"
    assert C.topic_to_device("p", KID, DTA8) == "p/dev/3f2a1b0c4d5e6f70/a1a2a3a4a5a6a7a8"
    assert C.d2d_topic("p", KID, DTA8) == "p/d2d/3f2a1b0c4d5e6f70/a1a2a3a4a5a6a7a8"


@pytest.mark.parametrize("mutation", ["truncated", "trailing", "no-payload", "hello-type"])
def test_channel_decode_is_strict(mutation):
    frame = C.encode(C.TYPE_TO_DEVICE, DTA8, KID, b"\x21\x01abc")
    bad = {"truncated": frame[:-1], "trailing": frame + b"\x00",
           "no-payload": frame[:4] + b"\x00\x10" + frame[6:22],
           "hello-type": frame[:3] + b"\x01" + frame[4:]}[mutation]
    with pytest.raises(DecodeError):
        C.decode(bad)


def test_channel_encoders_refuse_bad_input():
    for args in ((C.TYPE_EVENT, DTA8, KID, b"x"), (C.TYPE_TO_DTA, DTA8[:7], KID, b"x"),
                 (C.TYPE_TO_DTA, DTA8, KID, b""),
                 (C.TYPE_TO_DTA, DTA8, KID, bytes(C.MAX_PAYLOAD + 1))):
        with pytest.raises(EncodeError):
            C.encode(*args)


def test_messages_round_trip_and_are_strict():
    stmt = bytes(range(150))
    assert C.decode_message(C.share_request(7)) == (C.MSG_SHARE_REQUEST, (7,))
    assert C.decode_message(C.share(b"\x01" * 32, stmt)) == (C.MSG_SHARE, (b"\x01" * 32, stmt))
    assert C.decode_message(C.share_refused(7, 2)) == (C.MSG_SHARE_REFUSED, (7, 2))
    assert C.decode_message(C.time_message(1_800_000_000)) == (C.MSG_TIME, (1_800_000_000,))
    v = bytes(76)
    assert C.decode_message(C.voucher_message(v)) == (C.MSG_VOUCHER, (v,))
    assert C.trust_request(812) == b"\x20\x00\x00\x03\x2c"
    assert C.decode_trust_request(C.trust_request(812)) == 812
    for bad in (b"", b"\x01\x00", C.share_request(7) + b"\x00", b"\x09abc",
                C.share_refused(7, 2)[:-1], b"\x04" + bytes(9) + b"\x02x"):
        with pytest.raises(DecodeError):
            C.decode_message(bad)


def test_receipt_parts_reassemble_in_order_only():
    receipt = bytes(range(256)) * 5
    parts = [C.decode_message(p)[1] for p in C.receipt_parts(42, receipt)]
    assert len(parts) > 2
    assert all(len(m) <= C.MAX_MESSAGE for m in C.receipt_parts(42, receipt))
    asm = C.ReceiptAssembler()
    assert [asm.add(*p) for p in parts[:-1]] == [None] * (len(parts) - 1)
    assert asm.add(*parts[-1]) == receipt
    asm = C.ReceiptAssembler()
    asm.add(*parts[0])
    with pytest.raises(DecodeError, match="out of order"):
        asm.add(*parts[2])
    with pytest.raises(EncodeError):
        C.receipt_parts(1, bytes(C.MAX_RECEIPT + 1))


def test_events_and_acks_are_signed_and_strict():
    key = DEVICE.public_key
    sig = DEVICE.sign_digest(entries.event_digest(key, 9, C.EVENT_BOOT, b"\x00\x00\x00\x02"))
    frame = C.event_frame(KID, 9, C.EVENT_BOOT, b"\x00\x00\x00\x02", sig)
    kid, counter, kind, payload, got = C.decode_event(frame)
    assert (kid, counter, kind, payload, got) == (KID, 9, C.EVENT_BOOT, b"\x00\x00\x00\x02", sig)
    assert verify(key, entries.event_digest(key, counter, kind, payload), got)
    for bad in (frame[:-1], frame + b"\x00", frame[:19] + b"\x00\x05" + frame[21:]):
        with pytest.raises(DecodeError):
            C.decode_event(bad)
    ack = C.ack_frame(KID, 9, DTA_ID[:8], DTA.sign_digest(C.ack_digest(KID, 9)))
    kid, counter, dta8, sig = C.decode_ack(ack)
    assert verify(DTA.public_key, C.ack_digest(kid, counter), sig) and dta8 == DTA_ID[:8]
    assert not verify(DTA.public_key, C.ack_digest(kid, counter + 1), sig)
    with pytest.raises(DecodeError):
        C.decode_ack(ack[:-1])


def _known(dta8):
    return (DTA_ID, DTA.public_key) if dta8 == DTA_ID[:8] else None


def test_a_voucher_vouches_for_one_key_until_it_expires():
    v = voucher.issue(DTA, DTA_ID, DEVICE.public_key, 2_000_000_000)
    kid = hashlib.sha256(DEVICE.public_key).digest()[:8]
    ead = voucher.ead(DEVICE.public_key, v)
    assert len(ead) == voucher.EAD_LEN == 109
    assert voucher.check(ead, kid, _known, 1_900_000_000) == DEVICE.public_key
    other = Signer(b"\x07" * 32)
    forged = voucher.issue(other, DTA_ID, DEVICE.public_key, 2_000_000_000)
    cases = [(ead, kid, 2_000_000_001, "expired"),
             (ead, bytes(8), 0, "does not hash"),
             (voucher.ead(DEVICE.public_key, forged), kid, 0, "not signed"),
             (voucher.ead(other.public_key, v), hashlib.sha256(other.public_key).digest()[:8],
              0, "not signed"),
             (ead[:33] + bytes(8) + ead[41:], kid, 0, "not verified")]
    for e, k, now, match in cases:
        with pytest.raises(VerifyError, match=match):
            voucher.check(e, k, _known, now)


VM = """
from binascii import unhexlify as u
from dtacore import channel as C, voucher
from dtacore.errors import ProtocolError
for f in %r:
    try:
        t, d, k, p = C.decode(u(f))
        print("ok", t, len(p))
    except ProtocolError as e:
        print(type(e).__name__)
known = lambda d8: (u("%s"), u("%s")) if d8 == u("%s") else None
print(voucher.check(u("%s"), u("%s"), known, 1900000000) == u("%s"))
"""


def test_the_vm_agrees(mpy_firmware):
    good = C.encode(C.TYPE_TO_DTA, DTA8, KID, b"\x20\x00\x00\x00\x01")
    frames = [good, good[:-1], good + b"\x00", good[:3] + b"\x02" + good[4:]]
    v = voucher.issue(DTA, DTA_ID, DEVICE.public_key, 2_000_000_000)
    kid = hashlib.sha256(DEVICE.public_key).digest()[:8]
    code = VM % ([f.hex() for f in frames], DTA_ID.hex(), DTA.public_key.hex(),
                 DTA_ID[:8].hex(), voucher.ead(DEVICE.public_key, v).hex(), kid.hex(),
                 DEVICE.public_key.hex())
    res = mp.run_code(code, heapsize="64k", path=(mpy_firmware,))
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.decode().split("\n")[:5] == ["ok 16 5", "DecodeError", "DecodeError",
                                                   "DecodeError", "True"]
