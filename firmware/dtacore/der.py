# Strict DER for ECDSA signatures: SEQUENCE { INTEGER r, INTEGER s } (SEC1 / X9.62).
# Only the canonical encoding is accepted: short-form lengths, minimal positive integers,
# no trailing bytes. Anything else is a DecodeError.

from dtacore.errors import DecodeError, EncodeError

MAX_INT_LEN = 33  # a 256-bit positive integer plus a 0x00 sign byte
_BYTES = (bytes, bytearray, memoryview)


def _int_der(b):
    # Minimal big-endian positive INTEGER contents for a 32-byte unsigned value.
    i = 0
    while i < 31 and b[i] == 0:
        i += 1
    b = b[i:]
    if b[0] & 0x80:
        b = b"\x00" + b
    return b"\x02" + bytes((len(b),)) + b


def sig_to_der(sig):
    if not isinstance(sig, _BYTES) or len(sig) != 64:
        raise EncodeError("compact signature must be 64 bytes")
    body = _int_der(sig[:32]) + _int_der(sig[32:])
    return b"\x30" + bytes((len(body),)) + body


def _read_int(der, pos):
    if pos + 2 > len(der) or der[pos] != 0x02:
        raise DecodeError("DER: expected INTEGER")
    n = der[pos + 1]
    pos += 2
    if n == 0 or n > MAX_INT_LEN or pos + n > len(der):
        raise DecodeError("DER: bad INTEGER length")
    v = der[pos:pos + n]
    if v[0] & 0x80:
        raise DecodeError("DER: negative INTEGER")
    if n > 1 and v[0] == 0 and not (v[1] & 0x80):
        raise DecodeError("DER: non-minimal INTEGER")
    if n == MAX_INT_LEN and v[0] != 0:
        raise DecodeError("DER: INTEGER too large")
    if n == MAX_INT_LEN:
        v = v[1:]
    return bytes(32 - len(v)) + v, pos + n


def sig_from_der(der):
    # 64-byte r || s from a canonical DER signature; ranges are checked by the verifier.
    der = bytes(der)
    if len(der) < 8 or der[0] != 0x30:
        raise DecodeError("DER: expected SEQUENCE")
    if der[1] & 0x80 or der[1] + 2 != len(der):
        raise DecodeError("DER: bad SEQUENCE length")
    r, pos = _read_int(der, 2)
    s, pos = _read_int(der, pos)
    if pos != len(der):
        raise DecodeError("DER: trailing bytes")
    return r + s
