# The one place that picks the crypto implementation, by sys.implementation.name:
# CPython uses coincurve (libsecp256k1) and `cryptography` (dtacore.cpython_crypto, left out of
# device bundles); MicroPython uses the pure modules in dtacore. Both expose the same functions
# with the same results (signatures are deterministic given the same 32-byte extra entropy:
# libsecp256k1's nonce function is RFC 6979 with ndata as the RFC 6979 3.6 additional data).
#
#   pubkey(secret, compressed=True) -> bytes       valid_secret(secret) -> bool
#   sign(secret, digest32, extra=None) -> r||s     verify(pubkey, digest32, sig64) -> bool
#   prepare(pubkey) -> key for verify(): a per-key table on the device (repeat verifications)
#   shared_x(secret, peer_pubkey) -> bytes(32)
#   point_sum(pubkeys) -> compressed sum of SEC1 public keys (EncodeError if it is infinity)
#   ccm_encrypt(key, nonce, plaintext, aad=b"", tag_len=8) -> ciphertext||tag
#   ccm_decrypt(key, nonce, data, aad=b"", tag_len=8) -> plaintext (VerifyError on a bad tag)
#   hmac_sha256, hkdf, equal; aes(key) -> keyed AES with ecb(buf) and cbc_mac(buf), which
#   dtacore.ccm takes as its block cipher
# Bad arguments (a secret out of range, a digest that is not 32 bytes, a bad CCM key, nonce or
# tag length) raise dtacore.errors.EncodeError on both sides.
# On the device each function imports its module on first use, so a program that only
# verifies never loads the signing or AEAD code (RAM is the scarce resource there).

import sys

from dtacore.ct import equal  # noqa: F401

NAME = sys.implementation.name


def valid_secret(secret):
    from dtacore.secp256k1 import valid_secret as f
    return f(secret)


def hmac_sha256(key, msg):
    from dtacore.hmac import hmac_sha256 as f
    return f(key, msg)


def hkdf(ikm, salt, info, length):
    from dtacore.hkdf import hkdf as f
    return f(ikm, salt, info, length)


if NAME == "micropython":
    import cryptolib

    _ZERO_IV = bytes(16)

    def pubkey(secret, compressed=True):
        from dtacore.fixedbase import pubkey as f
        return f(secret, compressed)

    def sign(secret, digest, extra=None):
        from dtacore.ecdsa import sign as f
        return f(secret, digest, extra)

    def verify(pubkey, digest, sig, allow_high_s=False):
        from dtacore.ecdsa import verify as f
        return f(pubkey, digest, sig, allow_high_s)

    def prepare(pubkey):
        from dtacore.ecdsa import prepare as f
        return f(pubkey)

    def shared_x(secret, peer_pubkey):
        from dtacore.ecdh import shared_x as f
        return f(secret, peer_pubkey)

    def point_sum(pubkeys):
        from dtacore import ecmult
        from dtacore import secp256k1 as ec
        pt = ecmult.point_sum([ec.decode_point(p) for p in pubkeys])
        return ec.encode_point(ec.to_affine(pt))

    def ccm_encrypt(key, nonce, plaintext, aad=b"", tag_len=8):
        from dtacore import ccm
        ccm.check(key, nonce, tag_len)
        return ccm.encrypt(_AES(key), nonce, plaintext, aad, tag_len)

    def ccm_decrypt(key, nonce, data, aad=b"", tag_len=8):
        from dtacore import ccm
        ccm.check(key, nonce, tag_len)
        return ccm.decrypt(_AES(key), nonce, data, aad, tag_len)

    class _AES:
        def __init__(self, key):
            self.key = key

        def ecb(self, buf):
            return cryptolib.aes(self.key, 1).encrypt(buf)

        def cbc_mac(self, buf):
            return cryptolib.aes(self.key, 2, _ZERO_IV).encrypt(buf)[-16:]

    def aes(key):
        return _AES(key)

else:
    from dtacore.cpython_crypto import (  # noqa: F401
        aes,
        ccm_decrypt,
        ccm_encrypt,
        point_sum,
        prepare,
        pubkey,
        shared_x,
        sign,
        verify,
    )
