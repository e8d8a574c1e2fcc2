# The one place that picks the crypto implementation, by sys.implementation.name:
# CPython uses coincurve (libsecp256k1) and `cryptography`; MicroPython uses the pure modules
# in dtacore. Both expose the same functions with the same results (signatures are
# deterministic given the same 32-byte extra entropy: libsecp256k1's nonce function is
# RFC 6979 with ndata as the RFC 6979 3.6 additional data).
#
#   pubkey(secret, compressed=True) -> bytes       valid_secret(secret) -> bool
#   sign(secret, digest32, extra=None) -> r||s     verify(pubkey, digest32, sig64) -> bool
#   shared_x(secret, peer_pubkey) -> bytes(32)
#   ccm_encrypt(key, nonce, plaintext, aad=b"", tag_len=8) -> ciphertext||tag
#   ccm_decrypt(key, nonce, data, aad=b"", tag_len=8) -> plaintext (VerifyError on a bad tag)
#   hmac_sha256, hkdf, equal; aes(key) -> block cipher with ecb(buf) and cbc_mac(buf)

import sys

from dtacore.ct import equal  # noqa: F401
from dtacore.hkdf import hkdf  # noqa: F401
from dtacore.hmac import hmac_sha256  # noqa: F401
from dtacore.secp256k1 import valid_secret  # noqa: F401

NAME = sys.implementation.name

if NAME == "micropython":
    import cryptolib

    from dtacore.ccm import decrypt as ccm_decrypt  # noqa: F401
    from dtacore.ccm import encrypt as ccm_encrypt  # noqa: F401
    from dtacore.ecdh import shared_x  # noqa: F401
    from dtacore.ecdsa import sign, verify  # noqa: F401
    from dtacore.secp256k1 import pubkey  # noqa: F401

    _ZERO_IV = bytes(16)

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
    from dtacore._host import aes, ccm_decrypt, ccm_encrypt, pubkey, shared_x, sign, verify  # noqa: F401
