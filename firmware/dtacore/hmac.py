# HMAC-SHA256 (RFC 2104); MicroPython has no hmac module.

import hashlib

BLOCK = 64
_IPAD = int.from_bytes(b"\x36" * BLOCK, "big")
_OPAD = int.from_bytes(b"\x5c" * BLOCK, "big")


def _pad(key):
    if len(key) > BLOCK:
        key = hashlib.sha256(key).digest()
    return int.from_bytes(key + bytes(BLOCK - len(key)), "big")


def hmac_sha256(key, msg):
    k = _pad(key)
    h = hashlib.sha256((k ^ _IPAD).to_bytes(BLOCK, "big"))
    h.update(msg)
    inner = h.digest()
    h = hashlib.sha256((k ^ _OPAD).to_bytes(BLOCK, "big"))
    h.update(inner)
    return h.digest()
