# HKDF-SHA256 (RFC 5869).

from dtacore.hmac import hmac_sha256

HASH_LEN = 32
MAX_LENGTH = 255 * HASH_LEN  # RFC 5869 2.3: L <= 255*HashLen


def extract(salt, ikm):
    if not salt:
        salt = bytes(HASH_LEN)
    return hmac_sha256(salt, ikm)


def expand(prk, info, length):
    if length < 0 or length > MAX_LENGTH:
        raise ValueError("hkdf length out of range")
    out = b""
    t = b""
    i = 1
    while len(out) < length:
        t = hmac_sha256(prk, t + info + bytes((i,)))
        out += t
        i += 1
    return out[:length]


def hkdf(ikm, salt, info, length):
    return expand(extract(salt, ikm), info, length)
