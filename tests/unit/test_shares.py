"""Key shares (dtacore.shares): derivation is deterministic per subject and epoch, statements
are byte-exact and strictly decoded, a holder refuses a share that does not match its signed
public share, and combining agrees on CPython (coincurve) and on the MicroPython VM."""

import hashlib
import hmac
import os

import coincurve
import pytest

from dta.services import micropython as mp
from dta.signing import Signer
from dtacore import shares
from dtacore.errors import DecodeError, EncodeError, VerifyError

MASTERS = [bytes([i]) * 32 for i in (1, 2, 3)]
SUBJECT = bytes.fromhex("3f2a1b0c4d5e6f70")  # a device key id
DTA_IDS = [bytes([0xA0 + i]) * 32 for i in range(3)]
SIGNERS = [Signer(bytes([0x10 + i]) * 32) for i in range(3)]


def issued(i, epoch=1, subject=SUBJECT, index=7):
    share = shares.derive(MASTERS[i], subject, epoch)
    pub = coincurve.PrivateKey(share).public_key.format()
    return share, shares.sign_statement(SIGNERS[i], DTA_IDS[i], subject, epoch, index, pub)


def test_same_subject_and_epoch_same_share_another_epoch_another():
    assert shares.derive(MASTERS[0], SUBJECT, 1) == shares.derive(MASTERS[0], SUBJECT, 1)
    assert shares.derive(MASTERS[0], SUBJECT, 2) != shares.derive(MASTERS[0], SUBJECT, 1)
    assert shares.derive(MASTERS[1], SUBJECT, 1) != shares.derive(MASTERS[0], SUBJECT, 1)
    assert shares.derive(MASTERS[0], SUBJECT + b"x", 1) != shares.derive(MASTERS[0], SUBJECT, 1)
    # recomputed with the standard library: HMAC-SHA256(s, domain | len | subject | epoch | 0)
    msg = shares.DERIVE_DOMAIN + b"\x00\x08" + SUBJECT + b"\x00\x00\x00\x01\x00"
    want = int.from_bytes(hmac.new(MASTERS[0], msg, hashlib.sha256).digest(), "big") % shares.N
    assert shares.derive(MASTERS[0], SUBJECT, 1) == want.to_bytes(32, "big")


def test_statement_round_trip_and_strict_decoding():
    _, ps = issued(0)
    data = shares.encode_statement(ps)
    assert shares.decode_statement(data) == ps
    assert len(data) == shares.STATEMENT_FIXED + len(SUBJECT)
    for bad in (data[:-1], data + b"\x00", data[:44] + b"\x04" + data[45:], b""):
        with pytest.raises(DecodeError):
            shares.decode_statement(bad)
    with pytest.raises(EncodeError):
        shares.encode_statement(ps._replace(subject=b""))


def test_a_share_must_match_its_signed_statement():
    share, ps = issued(0)
    shares.check_share(share, ps, SIGNERS[0].public_key, SUBJECT, 1)
    other, _ = issued(1)
    cases = [(other, ps, SIGNERS[0].public_key, "share\\*G"),
             (share, ps, SIGNERS[1].public_key, "not signed by this D-TA"),
             (share, ps._replace(log_index=8), SIGNERS[0].public_key, "not signed"),
             (share, ps._replace(epoch=2), SIGNERS[0].public_key, "another subject or epoch")]
    for s, p, key, match in cases:
        with pytest.raises(VerifyError, match=match):
            shares.check_share(s, p, key, SUBJECT, 1)


def test_combined_key_is_the_sum_and_no_share_alone_is_it():
    got = [issued(i) for i in range(3)]
    secret, pub = shares.combine([s for s, _ in got], [p.public_share for _, p in got])
    want = coincurve.PublicKey.combine_keys(
        [coincurve.PublicKey(p.public_share) for _, p in got]).format()
    assert pub == want == coincurve.PrivateKey(secret).public_key.format()
    assert all(p.public_share != pub for _, p in got)
    with pytest.raises(VerifyError):
        shares.combine([s for s, _ in got][:2] + [os.urandom(32)],
                       [p.public_share for _, p in got])


VM_SCRIPT = """
from binascii import hexlify, unhexlify as u
from dtacore import shares
print(hexlify(shares.derive(u("%s"), u("%s"), 1)).decode())
secret, pub = shares.combine([u(s) for s in %r], [u(p) for p in %r])
print(hexlify(secret).decode(), hexlify(pub).decode())
ps = shares.decode_statement(u("%s"))
shares.check_share(u("%s"), ps, u("%s"), u("%s"), 1)
print("checked", ps.log_index)
"""


def test_the_vm_derives_checks_and_combines_like_the_host():
    got = [issued(i) for i in range(3)]
    secret, pub = shares.combine([s for s, _ in got], [p.public_share for _, p in got])
    code = VM_SCRIPT % (MASTERS[0].hex(), SUBJECT.hex(), [s.hex() for s, _ in got],
                        [p.public_share.hex() for _, p in got],
                        shares.encode_statement(got[0][1]).hex(), got[0][0].hex(),
                        SIGNERS[0].public_key.hex(), SUBJECT.hex())
    res = mp.run_code(code, heapsize="64k")
    assert res.returncode == 0, res.stdout + res.stderr
    lines = res.stdout.decode().split("\n")
    assert lines[0] == got[0][0].hex()
    assert lines[1] == f"{secret.hex()} {pub.hex()}"
    assert lines[2] == "checked 7"
