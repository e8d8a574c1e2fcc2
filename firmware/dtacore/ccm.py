# AES-CCM (RFC 3610): CBC-MAC then CTR, 7..13-byte nonces, 4..16-byte (even) tags.
# The block cipher is passed in, already keyed: an object with ecb(buf) and cbc_mac(buf)
# (dtacore.backend makes it from cryptolib on the device, hardware AES on ESP32; the CPython
# backend has one on `cryptography` for cross-checks). CBC-MAC runs as one CBC pass and the key
# stream as one ECB pass over counter blocks. This module imports no backend.

from dtacore.ct import equal
from dtacore.errors import EncodeError, VerifyError

MIN_NONCE = 7
MAX_NONCE = 13
MIN_TAG = 4
MAX_TAG = 16


def check(key, nonce, tag_len):
    # The parameter rules both backends apply before any work.
    if len(key) not in (16, 24, 32):
        raise EncodeError("AES key must be 16, 24 or 32 bytes")
    _check_params(nonce, tag_len)


def _check_params(nonce, tag_len):
    if not MIN_NONCE <= len(nonce) <= MAX_NONCE:
        raise EncodeError("CCM nonce must be 7..13 bytes")
    if tag_len & 1 or not MIN_TAG <= tag_len <= MAX_TAG:
        raise EncodeError("CCM tag must be 4..16 bytes, even")


def _pad16(b):
    r = len(b) & 15
    return b + bytes(16 - r) if r else b


def _aad_block(aad):
    # RFC 3610 2.2: length prefix, then the data, zero-padded to a whole block.
    n = len(aad)
    if n == 0:
        return b""
    if n < 0xFF00:
        head = n.to_bytes(2, "big")
    elif n < 0x100000000:
        head = b"\xff\xfe" + n.to_bytes(4, "big")
    else:
        head = b"\xff\xff" + n.to_bytes(8, "big")
    return _pad16(head + aad)


def _mac(aes, nonce, msg, aad, tag_len):
    q = 15 - len(nonce)
    if len(msg) >> (8 * q):
        raise EncodeError("message too long for this nonce size")
    flags = (0x40 if aad else 0) | (((tag_len - 2) >> 1) << 3) | (q - 1)
    b0 = bytes((flags,)) + nonce + len(msg).to_bytes(q, "big")
    return aes.cbc_mac(b0 + _aad_block(aad) + _pad16(msg))


def _stream(aes, nonce, n):
    # Key stream S_0 || S_1 || ... covering the tag block and n message bytes.
    q = 15 - len(nonce)
    head = bytes((q - 1,)) + nonce
    blocks = (n + 15) >> 4
    buf = bytearray((blocks + 1) * 16)
    for i in range(blocks + 1):
        buf[i * 16:i * 16 + 16] = head + i.to_bytes(q, "big")
    return aes.ecb(buf)


def _xor(a, b):
    n = len(a)
    if n == 0:
        return b""
    return (int.from_bytes(a, "big") ^ int.from_bytes(b[:n], "big")).to_bytes(n, "big")


def encrypt(aes, nonce, plaintext, aad=b"", tag_len=8):
    # aes: the keyed block cipher (its key checked by check() when it was made).
    _check_params(nonce, tag_len)
    t = _mac(aes, nonce, plaintext, aad, tag_len)
    s = _stream(aes, nonce, len(plaintext))
    return _xor(plaintext, s[16:]) + _xor(t[:tag_len], s)


def decrypt(aes, nonce, data, aad=b"", tag_len=8):
    _check_params(nonce, tag_len)
    if len(data) < tag_len:
        raise VerifyError("CCM: data shorter than the tag")
    n = len(data) - tag_len
    s = _stream(aes, nonce, n)
    msg = _xor(data[:n], s[16:])
    t = _xor(_mac(aes, nonce, msg, aad, tag_len)[:tag_len], s)
    if not equal(t, data[n:]):
        raise VerifyError("CCM: bad tag")
    return msg
