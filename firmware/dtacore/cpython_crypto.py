# The CPython crypto backend behind dtacore.backend (never imported on MicroPython, left out of
# device bundles): coincurve (libsecp256k1) for secp256k1, `cryptography` for AES. Same
# contracts, same errors as the pure modules.

import coincurve
from coincurve._libsecp256k1 import ffi, lib
from coincurve.context import GLOBAL_CONTEXT
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM

from dtacore import ccm as _ccm
from dtacore.ecdsa import EXTRA_LEN, HALF_N, N, check_digest, compact_scalars
from dtacore.errors import EncodeError, VerifyError
from dtacore.secp256k1 import valid_secret

_NULL = ffi.NULL
_CTX = GLOBAL_CONTEXT.ctx


def pubkey(secret, compressed=True):
    if not valid_secret(secret):
        raise EncodeError("secret out of range")
    return coincurve.PrivateKey(bytes(secret)).public_key.format(compressed)


def sign(secret, digest, extra=None):
    if not valid_secret(secret):
        raise EncodeError("secret out of range")
    check_digest(digest)
    ndata = _NULL
    if extra is not None:
        if len(extra) != EXTRA_LEN:
            raise EncodeError("extra entropy must be 32 bytes")
        ndata = ffi.from_buffer(bytes(extra))
    # libsecp256k1 itself (RFC 6979 nonces, ndata as their additional data, low-S), as
    # coincurve's PrivateKey.sign calls it: the PrivateKey object would first derive a public
    # key and a keypair, two thirds of a signature's time, for nothing (the gateway signs an
    # EVENT_ACK per device event).
    sig = ffi.new("secp256k1_ecdsa_signature *")
    if not lib.secp256k1_ecdsa_sign(_CTX, sig, bytes(digest), bytes(secret), _NULL, ndata):
        raise EncodeError("secret out of range")
    out = ffi.new("unsigned char[64]")
    lib.secp256k1_ecdsa_signature_serialize_compact(_CTX, out, sig)
    return bytes(ffi.buffer(out, 64))


def prepare(pubkey):
    # libsecp256k1 needs no per-key table: a prepared key is the validated key itself.
    from dtacore.secp256k1 import decode_point
    decode_point(pubkey)
    return bytes(pubkey)


def verify(pubkey, digest, sig, allow_high_s=False):
    pubkey = getattr(pubkey, "pubkey", pubkey)  # an ecdsa.PreparedKey from the pure side
    rs = compact_scalars(digest, sig, allow_high_s)
    if rs is None:
        return False
    if rs[1] > HALF_N:  # allowed high-S: libsecp256k1 verifies only the normalised form
        sig = sig[:32] + (N - rs[1]).to_bytes(32, "big")
    # libsecp256k1 itself, as coincurve's PublicKey.verify calls it, without the DER round
    # trip and the objects (a quarter of a verification's time; the gateway verifies every
    # device event).
    key = bytes(pubkey)
    point = ffi.new("secp256k1_pubkey *")
    if not lib.secp256k1_ec_pubkey_parse(_CTX, point, key, len(key)):
        return False
    parsed = ffi.new("secp256k1_ecdsa_signature *")
    if not lib.secp256k1_ecdsa_signature_parse_compact(_CTX, parsed, bytes(sig)):
        return False
    return bool(lib.secp256k1_ecdsa_verify(_CTX, parsed, bytes(digest), point))


def shared_x(secret, peer_pubkey):
    from dtacore.secp256k1 import decode_point
    if not valid_secret(secret):
        raise EncodeError("secret out of range")
    decode_point(peer_pubkey)  # same strict rules and DecodeError as the device
    pt = coincurve.PublicKey(bytes(peer_pubkey)).multiply(bytes(secret))
    return pt.format(True)[1:]


def point_sum(pubkeys):
    from dtacore.secp256k1 import decode_point
    for p in pubkeys:
        decode_point(p)  # same strict rules and DecodeError as the device
    if not pubkeys:
        raise EncodeError("no points to add")
    try:
        total = coincurve.PublicKey.combine_keys([coincurve.PublicKey(bytes(p)) for p in pubkeys])
    except ValueError:
        raise EncodeError("the points sum to the point at infinity") from None
    return total.format(True)


def ccm_encrypt(key, nonce, plaintext, aad=b"", tag_len=8):
    _ccm.check(key, nonce, tag_len)
    return AESCCM(bytes(key), tag_length=tag_len).encrypt(bytes(nonce), bytes(plaintext),
                                                          bytes(aad))


def ccm_decrypt(key, nonce, data, aad=b"", tag_len=8):
    _ccm.check(key, nonce, tag_len)
    if len(data) < tag_len:
        raise VerifyError("CCM: data shorter than the tag")
    try:
        return AESCCM(bytes(key), tag_length=tag_len).decrypt(bytes(nonce), bytes(data), bytes(aad))
    except InvalidTag:
        raise VerifyError("CCM: bad tag") from None


class _AES:
    # Raw AES for the pure CCM module when it runs on CPython (tests cross-check it).
    def __init__(self, key):
        self.key = bytes(key)

    def ecb(self, buf):
        e = Cipher(algorithms.AES(self.key), modes.ECB()).encryptor()
        return e.update(bytes(buf)) + e.finalize()

    def cbc_mac(self, buf):
        e = Cipher(algorithms.AES(self.key), modes.CBC(bytes(16))).encryptor()
        return (e.update(bytes(buf)) + e.finalize())[-16:]


def aes(key):
    return _AES(key)
