"""dtacore's secp256k1 pieces on CPython: encodings and their strictness, the recodings and the
GLV split, the fixed-base tables (ROM modules == fresh derivation), edge scalars, DER, ct."""

import os
import random

import coincurve
import pytest

from dtacore import cpython_crypto, ct, der, ecdh, ecdsa, ecmult, ecverify, gtable, gtable_gen
from dtacore import secp256k1 as ec
from dtacore.errors import DecodeError, EncodeError
from dtacore.fixedbase import pubkey

RNG = random.Random(1234)


def test_curve_constants():
    assert ec.on_curve(ec.GX, ec.GY)
    assert pow(ec.BETA, 3, ec.P) == 1 and pow(ec.LAMBDA, 3, ec.N) == 1
    lam_g = coincurve.PrivateKey(ec.LAMBDA.to_bytes(32, "big")).public_key.format(False)
    assert ec.decode_point(lam_g) == (ec.BETA * ec.GX % ec.P, ec.GY)


def test_rom_tables_equal_derivation():
    assert gtable_gen.derive_comb() == gtable.comb_blob()
    assert gtable_gen.derive_wnaf() == gtable.wnaf_blob()
    assert sum(len(c) for c in gtable.comb_blob()) == 64 * ((1 << gtable.TEETH) - 1)
    assert gtable.TEETH * gtable.SPACING >= ecmult.HALF_BITS


@pytest.mark.parametrize("k", [1, 2, 3, 7, 2**128, 2**128 - 1, ec.N - 1, ec.N - 2, ec.N // 2,
                               ec.LAMBDA, ec.N - ec.LAMBDA])
def test_edge_scalars_match_coincurve(k):
    secret = k.to_bytes(32, "big")
    assert pubkey(secret, False) == coincurve.PrivateKey(secret).public_key.format(False)
    peer = coincurve.PrivateKey(os.urandom(32))
    want = coincurve.PublicKey(peer.public_key.format()).multiply(secret).format()[1:]
    assert ecdh.shared_x(secret, peer.public_key.format()) == want
    assert ecdh.shared_x(secret, peer.public_key.format(False)) == want


def test_secret_range():
    for bad in (bytes(32), ec.N.to_bytes(32, "big"), b"\xff" * 32, b"\x01" * 31, b"\x01" * 33):
        assert not ec.valid_secret(bad)
        with pytest.raises(EncodeError):
            pubkey(bad)
        with pytest.raises(EncodeError):
            ecdsa.sign(bad, bytes(32))
    assert ec.valid_secret((ec.N - 1).to_bytes(32, "big"))


def test_point_encoding_roundtrip():
    for _ in range(50):
        pk = coincurve.PrivateKey(os.urandom(32)).public_key
        pt = ec.decode_point(pk.format())
        assert ec.decode_point(pk.format(False)) == pt
        assert ec.encode_point(pt) == pk.format() and ec.encode_point(pt, False) == pk.format(False)


def _not_square_x():
    x = 5
    while ec.sqrt(x ** 3 + 7) is not None:
        x += 1
    return x


@pytest.mark.parametrize("name,blob", [
    ("empty", b""),
    ("prefix-00-infinity", b"\x00"),
    ("prefix-04-short", b"\x04" + bytes(63)),
    ("prefix-02-long", b"\x02" + bytes(33)),
    ("prefix-05", b"\x05" + ec.GX.to_bytes(32, "big")),
    ("prefix-06-hybrid", b"\x06" + ec.GX.to_bytes(32, "big") + ec.GY.to_bytes(32, "big")),
    ("x-equals-p", b"\x02" + ec.P.to_bytes(32, "big")),
    ("x-not-on-curve", b"\x02" + _not_square_x().to_bytes(32, "big")),
    ("y-flipped-bit", b"\x04" + ec.GX.to_bytes(32, "big") + (ec.GY ^ 1).to_bytes(32, "big")),
    ("uncompressed-zero", b"\x04" + bytes(64)),
    ("y-plus-p", b"\x04" + ec.GX.to_bytes(32, "big") + (ec.GY + ec.P).to_bytes(33, "big")[1:]),
])
def test_decode_point_rejects(name, blob):
    with pytest.raises(DecodeError):
        ec.decode_point(blob)
    if len(blob) in (33, 65):
        with pytest.raises(DecodeError):
            ecdh.shared_x(b"\x01" * 32, blob)
        assert not ecdsa.verify(blob, bytes(32), b"\x01" * 64)


def test_glv_split_bounds():
    for k in ([0, 1, ec.N - 1, ec.N // 2, 2**255 % ec.N]
              + [RNG.randrange(ec.N) for _ in range(2000)]):
        k1, k2 = ecmult.split(k)
        assert (k1 + k2 * ec.LAMBDA - k) % ec.N == 0
        assert abs(k1) < 2**129 and abs(k2) < 2**129


def test_recodings():
    for w in (4, 5, 6, 7):
        for k in [0, 1, 2**129 - 1] + [RNG.getrandbits(RNG.randrange(1, 130)) for _ in range(500)]:
            digits = ecverify.wnaf(k, w)
            assert sum(d << i for i, d in enumerate(digits)) == k
            nz = [i for i, d in enumerate(digits) if d]
            assert all(digits[i] & 1 and abs(digits[i]) < 1 << (w - 1) for i in nz)
            # NAF: w-1 zeros after a digit
            assert all(b - a >= w for a, b in zip(nz, nz[1:], strict=False))
    for k in [1, 3, 2**129 - 1] + [RNG.getrandbits(129) | 1 for _ in range(500)]:
        digits = ecdh.regular(k, ecdh.ECDH_WIDTH, ecdh.ECDH_WINDOWS)
        assert sum(d << i for i, d in enumerate(digits)) == k
        w = ecdh.ECDH_WIDTH
        assert all(digits[i] & 1 and abs(digits[i]) < 1 << w for i in range(0, len(digits), w))
        assert all(d == 0 for i, d in enumerate(digits) if i % w)
    for k in [0, 1, 2**130 - 1] + [RNG.getrandbits(130) for _ in range(200)]:
        digits = gtable.comb_digits(k)
        idx = [(d + 1) >> 1 if d else 0 for d in digits]
        assert sum(((j >> t) & 1) << (t * gtable.SPACING + c)
                   for c, j in enumerate(idx) for t in range(gtable.TEETH)) == k


def test_sqrt_and_is_square():
    for _ in range(200):
        a = RNG.randrange(ec.P)
        r = ec.sqrt(a)
        assert (r is not None) == ecdh.is_square(a) == (pow(a, (ec.P - 1) // 2, ec.P) == 1)
        if r is not None:
            assert r * r % ec.P == a


@pytest.mark.parametrize("name,sig", [
    ("long-form-length",
     "30814402200102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20"
     "02200102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20"),
    ("negative-r", "3006020180020101"),
    ("zero-padded-r", "300702020001020101"),
    ("empty-r", "30050200020101"),
    ("trailing-byte", "300602010102010100"),
    ("wrong-seq-length", "300702010102010100"),
    ("r-too-long", "3027022201" + "00" * 33 + "020101"),
    ("not-a-sequence", "310602010102010100"),
    ("truncated", "3006020101020101"[:-2]),
])
def test_der_strict(name, sig):
    with pytest.raises(DecodeError):
        der.sig_from_der(bytes.fromhex(sig))


def test_der_roundtrip_and_minimal():
    for _ in range(200):
        sig = RNG.randbytes(64)
        sig = bytes(RNG.randrange(3)) + sig[RNG.randrange(3):]
        sig = sig[:64].rjust(64, b"\x00")
        enc = der.sig_to_der(sig)
        assert der.sig_from_der(enc) == sig
        key = coincurve.PrivateKey(os.urandom(32))
        cdata = key.sign(os.urandom(32), hasher=None)
        assert der.sig_to_der(der.sig_from_der(cdata)) == cdata


def test_verify_ranges_and_high_s():
    d = os.urandom(32)
    while not ec.valid_secret(d):
        d = os.urandom(32)
    digest = os.urandom(32)
    sig = ecdsa.sign(d, digest, os.urandom(32))
    pub = pubkey(d)
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    assert s <= ec.N // 2 and ecdsa.verify(pub, digest, sig)
    high = sig[:32] + (ec.N - s).to_bytes(32, "big")
    assert not ecdsa.verify(pub, digest, high)
    assert ecdsa.verify(pub, digest, high, allow_high_s=True)
    for bad in (bytes(32) + sig[32:], sig[:32] + bytes(32), ec.N.to_bytes(32, "big") + sig[32:],
                sig[:32] + ec.N.to_bytes(32, "big"), (r + ec.N).to_bytes(33, "big")[1:] + sig[32:],
                sig[:63], sig + b"\x00"):
        assert not ecdsa.verify(pub, digest, bad)


def test_sign_is_deterministic_and_extra_changes_it():
    d, digest = b"\x07" * 32, b"\x09" * 32
    assert ecdsa.sign(d, digest) == ecdsa.sign(d, digest)
    assert ecdsa.sign(d, digest, b"\x01" * 32) != ecdsa.sign(d, digest, b"\x02" * 32)
    with pytest.raises(EncodeError):
        ecdsa.sign(d, digest, b"\x01" * 16)
    with pytest.raises(EncodeError):
        ecdsa.sign(d, digest[:31])


@pytest.mark.parametrize("size", [0, 31, 33, 64])
def test_a_digest_that_is_not_32_bytes_is_an_error_on_both_backends(size):
    # Not truncated to the leftmost 256 bits as ECDSA would allow, and never a silent False.
    d = b"\x07" * 32
    pub = pubkey(d)
    sig = ecdsa.sign(d, bytes(32))
    for verify in (ecdsa.verify, cpython_crypto.verify):
        with pytest.raises(EncodeError, match="32 bytes"):
            verify(pub, bytes(size), sig)
    for sign in (ecdsa.sign, cpython_crypto.sign):
        with pytest.raises(EncodeError, match="32 bytes"):
            sign(d, bytes(size))


def test_ct_equal():
    assert ct.equal(b"abc", b"abc") and ct.equal(b"", b"")
    assert not ct.equal(b"abc", b"abd") and not ct.equal(b"abc", b"ab")
