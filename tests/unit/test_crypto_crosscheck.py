"""Random cross-checks on CPython, pure dtacore against coincurve / cryptography, both ways:
4,000 ECDSA cases (sign here, verify there and back, tampered digests rejected), 3,000 ECDH
cases (each side's view) and 3,000 AES-CCM cases (encrypt here, decrypt there and back, with a
flipped bit rejected): 10,000 in all, on fresh random inputs each run."""

import os
import random

import coincurve
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESCCM

from dtacore import ccm, ecdh, ecdsa, hkdf
from dtacore import cpython_crypto as _host
from dtacore import secp256k1 as ec
from dtacore.der import sig_from_der, sig_to_der
from dtacore.errors import EncodeError, VerifyError
from dtacore.fixedbase import pubkey

SEED = os.urandom(16)
ECDSA_CASES, ECDH_CASES, CCM_CASES = 4000, 3000, 3000


def _secret(rng):
    while True:
        s = rng.randbytes(32)
        if ec.valid_secret(s):
            return s


def test_ecdsa_both_ways():
    rng = random.Random(SEED)
    for i in range(ECDSA_CASES):
        d, digest, extra = _secret(rng), rng.randbytes(32), rng.randbytes(32)
        key = coincurve.PrivateKey(d)
        pub = pubkey(d, compressed=bool(i & 1))
        assert pub == key.public_key.format(compressed=bool(i & 1))
        sig = ecdsa.sign(d, digest, extra if i % 3 else None)
        # libsecp256k1's RFC 6979 with ndata: the same signature, byte for byte
        assert sig == _host.sign(d, digest, extra if i % 3 else None)
        assert key.public_key.verify(sig_to_der(sig), digest, hasher=None)
        theirs = sig_from_der(key.sign(rng.randbytes(32) if i & 2 else digest, hasher=None))
        assert ecdsa.verify(pub, digest, theirs) == (not i & 2)
        bad = bytes([digest[0] ^ (1 << (i % 8))]) + digest[1:]
        assert not ecdsa.verify(pub, bad, sig)


def test_ecdh_both_ways():
    rng = random.Random(SEED + b"ecdh")
    for i in range(ECDH_CASES):
        a, b = _secret(rng), _secret(rng)
        pa = coincurve.PrivateKey(a).public_key.format(compressed=bool(i & 1))
        pb = coincurve.PrivateKey(b).public_key.format(compressed=bool(i & 2))
        mine = ecdh.shared_x(a, pb)
        assert mine == coincurve.PublicKey(pa).multiply(b).format()[1:]
        assert mine == _host.shared_x(b, pa)


def test_ccm_both_ways():
    rng = random.Random(SEED + b"ccm")
    for _ in range(CCM_CASES):
        key = rng.randbytes(rng.choice((16, 16, 24, 32)))
        nonce = rng.randbytes(rng.randint(7, 13))
        tag = rng.choice((4, 6, 8, 8, 10, 12, 14, 16))
        msg = rng.randbytes(rng.choice((0, 1, 15, 16, 17, 31, 64, rng.randint(0, 300))))
        aad = rng.randbytes(rng.choice((0, 0, 1, 13, 16, rng.randint(0, 100))))
        theirs = AESCCM(key, tag_length=tag)
        ct = ccm.encrypt(_host.aes(key), nonce, msg, aad, tag)
        assert theirs.decrypt(nonce, ct, aad) == msg
        other = theirs.encrypt(nonce, msg, aad)
        assert ct == other and ccm.decrypt(_host.aes(key), nonce, other, aad, tag) == msg
        flip = bytearray(other)
        flip[rng.randrange(len(flip))] ^= 1 << rng.randrange(8)
        with pytest.raises(VerifyError):
            ccm.decrypt(_host.aes(key), nonce, bytes(flip), aad, tag)
        with pytest.raises(InvalidTag):
            theirs.decrypt(nonce, bytes(flip), aad)


@pytest.mark.parametrize("nonce_len,tag_len",
                         [(6, 8), (14, 8), (13, 3), (13, 2), (13, 18), (13, 7)])
def test_ccm_parameter_limits(nonce_len, tag_len):
    aes = _host.aes(bytes(16))
    for f, key in ((ccm.encrypt, aes), (ccm.decrypt, aes), (_host.ccm_encrypt, bytes(16)),
                   (_host.ccm_decrypt, bytes(16))):
        with pytest.raises(EncodeError):
            f(key, bytes(nonce_len), b"m" * 20, b"", tag_len)


def test_ccm_short_data_and_hkdf_limits():
    with pytest.raises(VerifyError):
        ccm.decrypt(_host.aes(bytes(16)), bytes(13), b"\x00" * 7)
    with pytest.raises(VerifyError):
        _host.ccm_decrypt(bytes(16), bytes(13), b"\x00" * 7)
    assert len(hkdf.hkdf(b"k", b"", b"", 255 * 32)) == 255 * 32
    with pytest.raises(EncodeError):
        hkdf.hkdf(b"k", b"", b"", 255 * 32 + 1)
