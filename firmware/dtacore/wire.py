# The device <-> gateway frame format, defined once for host (CPython) and device (MicroPython).
# Byte layout, limits and test vectors: docs/protocol.md.
#
# Frame   = header(6) || body
# header  = "DT" || version u8 || type u8 || body_len u16 (big-endian)
# HELLO   = key_id(8) || pubkey(33) || boot u32 || len u8 || board || len u8 || firmware || sig(64)
# The HELLO signature is ECDSA secp256k1 (64-byte r||s, low-S) over
#   SHA-256(HELLO_DOMAIN || frame-without-signature).

import hashlib
import struct

from dtacore.errors import DecodeError, EncodeError, VerifyError

MAGIC = b"DT"
VERSION = 1
HEADER_LEN = 6

TYPE_HELLO = 0x01

# A frame must fit one MQTT packet and a UART buffer on a device with ~90 KB of heap.
MAX_FRAME = 512
MAX_BODY = MAX_FRAME - HEADER_LEN
# Board names and firmware versions are short labels; longer ones are a malformed hello.
MAX_LABEL = 32
KEY_ID_LEN = 8
PUBKEY_LEN = 33
SIG_LEN = 64
MAX_BOOT = 0xFFFFFFFF

HELLO_DOMAIN = b"DTA/v1/hello\x00"
# Fixed part of a hello: key id, pubkey, boot counter, two length bytes, signature.
HELLO_FIXED = KEY_ID_LEN + PUBKEY_LEN + 4 + 1 + 1 + SIG_LEN


def key_id(pubkey):
    # The first 8 bytes of SHA-256(compressed public key): short, stable, derived, never trusted.
    return hashlib.sha256(pubkey).digest()[:KEY_ID_LEN]


def _hex(b):
    return "".join("%02x" % x for x in b)


def key_id_hex(pubkey):
    return _hex(key_id(pubkey))


def _label_ok(b):
    # Printable ASCII without space: board names like "esp32-s3", versions like "0.1.0+dev".
    for c in b:
        if c < 0x21 or c > 0x7E:
            return False
    return True


def _uint(value, most):
    return type(value) is int and 0 <= value <= most


def header(ftype, body_len):
    # Encoders raise EncodeError for a value they cannot encode; decoders DecodeError.
    if not _uint(ftype, 0xFF):
        raise EncodeError("frame type must be a byte")
    if not _uint(body_len, MAX_BODY):
        raise EncodeError("body of %r bytes is outside 0..MAX_BODY %d" % (body_len, MAX_BODY))
    return MAGIC + struct.pack(">BBH", VERSION, ftype, body_len)


def parse_header(frame):
    # Returns (type, body memoryview). Strict: exact length, known version.
    n = len(frame)
    if n > MAX_FRAME:
        raise DecodeError("frame of %d bytes exceeds MAX_FRAME %d" % (n, MAX_FRAME))
    if n < HEADER_LEN:
        raise DecodeError("truncated header: %d of %d bytes" % (n, HEADER_LEN))
    if frame[0:2] != MAGIC:
        raise DecodeError("bad magic")
    version, ftype, body_len = struct.unpack(">BBH", frame[2:HEADER_LEN])
    if version != VERSION:
        raise DecodeError("unsupported version %d" % version)
    if n < HEADER_LEN + body_len:
        raise DecodeError("truncated body: %d of %d bytes" % (n - HEADER_LEN, body_len))
    if n > HEADER_LEN + body_len:
        raise DecodeError("%d trailing bytes" % (n - HEADER_LEN - body_len))
    return ftype, memoryview(frame)[HEADER_LEN:]


class Hello:
    # A decoded hello. `signed` is the frame minus its signature, kept for verification.
    def __init__(self, key_id, pubkey, boot, board, firmware, sig, signed):
        self.key_id = key_id
        self.pubkey = pubkey
        self.boot = boot
        self.board = board
        self.firmware = firmware
        self.sig = sig
        self.signed = signed

    def digest(self):
        return hello_digest(self.signed)


def _label(lab, name):
    # A label as bytes: printable ASCII (str or bytes), 1..MAX_LABEL long.
    if isinstance(lab, str):
        try:
            lab = lab.encode()
        except UnicodeError:  # a lone surrogate (CPython only)
            lab = b""
    if (not isinstance(lab, (bytes, bytearray)) or not 1 <= len(lab) <= MAX_LABEL
            or not _label_ok(lab)):
        raise EncodeError("%s label must be 1..%d printable ASCII bytes" % (name, MAX_LABEL))
    return bytes(lab)


def hello_unsigned(pubkey, boot, board, firmware):
    # The frame up to (not including) the signature; sign hello_digest() of it.
    if (not isinstance(pubkey, (bytes, bytearray)) or len(pubkey) != PUBKEY_LEN
            or pubkey[0] not in (2, 3)):
        raise EncodeError("pubkey must be 33-byte compressed SEC1")
    if not _uint(boot, MAX_BOOT):
        raise EncodeError("boot counter out of range")
    board = _label(board, "board")
    firmware = _label(firmware, "firmware")
    body_len = HELLO_FIXED + len(board) + len(firmware)
    return (header(TYPE_HELLO, body_len) + key_id(pubkey) + pubkey + struct.pack(">I", boot)
            + bytes((len(board),)) + board + bytes((len(firmware),)) + firmware)


def hello_digest(unsigned):
    h = hashlib.sha256(HELLO_DOMAIN)
    h.update(unsigned)
    return h.digest()


def decode_hello(frame):
    ftype, body = parse_header(frame)
    if ftype != TYPE_HELLO:
        raise DecodeError("frame type 0x%02x is not HELLO" % ftype)
    n = len(body)
    if n < HELLO_FIXED + 2:
        raise DecodeError("hello body too short: %d bytes" % n)
    kid = bytes(body[0:8])
    pubkey = bytes(body[8:41])
    boot = struct.unpack(">I", body[41:45])[0]
    i = 45
    labels = []
    for name in ("board", "firmware"):
        ln = body[i]
        i += 1
        if ln < 1 or ln > MAX_LABEL:
            raise DecodeError("%s label length %d outside 1..%d" % (name, ln, MAX_LABEL))
        if i + ln + SIG_LEN > n:
            raise DecodeError("%s label runs past the body" % name)
        lab = bytes(body[i:i + ln])
        if not _label_ok(lab):
            raise DecodeError("%s label is not printable ASCII" % name)
        labels.append(lab.decode())
        i += ln
    if i + SIG_LEN != n:
        raise DecodeError("hello body has %d bytes after the signature" % (n - i - SIG_LEN))
    if pubkey[0] not in (2, 3):
        raise DecodeError("pubkey is not compressed SEC1")
    return Hello(kid, pubkey, boot, labels[0], labels[1], bytes(body[i:]),
                 bytes(frame[:HEADER_LEN + i]))


def verify_hello(hello, verify):
    # verify(pubkey, digest, sig) -> bool is the backend's ECDSA verification (low-S enforced).
    # Recompute the key id, then the signature; raise VerifyError on any mismatch.
    kid = key_id(hello.pubkey)
    if kid != hello.key_id:
        raise VerifyError("key id does not match the public key", kid, hello.key_id)
    if not verify(hello.pubkey, hello.digest(), hello.sig):
        raise VerifyError("hello signature does not verify")
    return hello


def hello_topic(prefix, kid):
    return "%s/hello/%s" % (prefix, _hex(kid))
