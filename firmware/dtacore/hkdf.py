# HKDF-SHA256 (RFC 5869).

from dtacore.errors import EncodeError
from dtacore.hmac import hmac_sha256

HASH_LEN = 32
MAX_LENGTH = 255 * HASH_LEN  # RFC 5869 2.3: L <= 255*HashLen


def extract(salt, ikm):
    if not salt:
        salt = bytes(HASH_LEN)
    return hmac_sha256(salt, ikm)


def expand(prk, info, length):
    if length < 0 or length > MAX_LENGTH:
        raise EncodeError("hkdf length out of range")
    out = bytearray(length)
    t = b""
    i = 0
    while i * HASH_LEN < length:
        t = hmac_sha256(prk, t + info + bytes((i + 1,)))
        n = min(HASH_LEN, length - i * HASH_LEN)
        out[i * HASH_LEN:i * HASH_LEN + n] = t[:n]
        i += 1
    return bytes(out)


def hkdf(ikm, salt, info, length):
    return expand(extract(salt, ikm), info, length)
