# Strict UTF-8 (RFC 3629 section 4), for host and device. MicroPython's bytes.decode() takes
# overlong forms, encoded surrogates and code points past U+10FFFF that CPython's refuses, so
# a text field from outside is checked here before it is decoded: both interpreters then accept
# and refuse the same bytes. Iterating bytes allocates nothing.


def lead(c):
    # For the first byte of a multi-byte sequence: (continuation bytes, lowest and highest
    # allowed second byte), or None for a byte no well-formed sequence starts with (a stray
    # continuation byte, the overlong leads C0 C1 and E0/F0 with low second bytes, surrogates
    # ED A0..BF, and everything past U+10FFFF).
    if 0xC2 <= c <= 0xDF:
        return 1, 0x80, 0xBF
    if 0xE0 <= c <= 0xEF:
        return 2, 0xA0 if c == 0xE0 else 0x80, 0x9F if c == 0xED else 0xBF
    if 0xF0 <= c <= 0xF4:
        return 3, 0x90 if c == 0xF0 else 0x80, 0x8F if c == 0xF4 else 0xBF
    return None


def valid(data):
    # True when data (bytes-like) is well-formed UTF-8.
    cont = 0
    lo = hi = 0
    for c in data:
        if cont:
            if c < lo or c > hi:
                return False
            cont, lo, hi = cont - 1, 0x80, 0xBF
        elif c >= 0x80:
            rest = lead(c)
            if rest is None:
                return False
            cont, lo, hi = rest
    return not cont
