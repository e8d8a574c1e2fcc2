# What the D-TA handshake's modules share, host (CPython) and device (MicroPython): message
# kinds, error classes and codes, the credential-id field, the error message, the key schedule
# primitives (EDHOC_KDF, transcript hashes). Byte layouts and vectors: docs/handshake.md.
# dtacore.handshake defines the full handshake's messages, dtacore.resumption the resumed one's,
# dtacore.session the record's; every message after message_1 and resume_1 starts with its
# kind and the connection id of its recipient. Kept small: the device holds it in RAM
# throughout (constants private to a module are const() and take no RAM there).

import hashlib
import struct
from binascii import hexlify

from dtacore.errors import DecodeError, EncodeError, ProtocolError, VerifyError

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

_VERSION = const(1)
# Kinds: the high nibble is the version, the low nibble the message.
MSG_1 = const(0x11)
MSG_2 = const(0x12)
MSG_3 = const(0x13)
MSG_4 = const(0x14)
RESUME_1 = const(0x15)
RESUME_2 = const(0x16)
RECORD = const(0x17)
ERROR = const(0x1F)
NAMES = {MSG_1: "message_1", MSG_2: "message_2", MSG_3: "message_3", MSG_4: "message_4",
         RESUME_1: "resume_1", RESUME_2: "resume_2", RECORD: "record", ERROR: "error"}

HASH_LEN = const(32)
KEY_LEN = const(16)  # AES-CCM-16-64-128: 16-byte key, 13-byte nonce, 8-byte tag
IV_LEN = const(13)
TAG_LEN = const(8)
CRED_LEN = const(33)  # CRED: a compressed SEC1 public key
KID_LEN = const(8)  # a key id: SHA-256(pubkey)[:8]
# ID_CRED: one byte 00..ef is a short id (a D-TA's index in the device's provisioned list, or
# an id given at enrolment); f8 is followed by an 8-byte key id; other prefixes are reserved.
# In the API a credential id is the 1 or 8 bytes without the prefix.
_SHORT_ID_MAX = const(0xEF)
_KID_PREFIX = const(0xF8)
PRK_EXPORTER = const(10)  # EDHOC_KDF label (RFC 9528 4.2.1)

ERR_NAMES = {1: "malformed", 2: "unsupported-suite", 3: "unknown-credential",
             4: "untrusted-credential", 5: "verify-failed", 6: "unexpected-message",
             7: "replay", 8: "ticket-rejected", 9: "aborted"}


class MessageDecodeError(DecodeError):
    # A message or record that does not parse; the text names the message and the field.
    code = 1


class UnsupportedSuiteError(MessageDecodeError):
    code = 2


class UnknownCredentialError(VerifyError):
    code = 3


class UntrustedCredentialError(VerifyError):
    # The id resolves, but the key is not trusted now (a stale or revoked D-TA, a changed key).
    code = 4


class BadSignatureError(VerifyError):
    code = 5


class BadTagError(VerifyError):
    # An AEAD tag or a MAC that does not verify: another session's keys, or modified bytes.
    code = 5


class ReplayError(VerifyError):
    code = 7


class TicketRejectedError(VerifyError):
    # Unknown, expired or used-up ticket: the initiator runs a full handshake instead.
    code = 8


class UnexpectedMessageError(ProtocolError):
    # A well-formed message this state does not take: reordered, swapped or misrouted.
    code = 6


class AbortedError(ProtocolError):
    # The handshake or session gave up (too many refused messages, retransmissions, records).
    code = 9


class PeerError(ProtocolError):
    # The peer sent an error message (unauthenticated: by itself it changes nothing here).
    def __init__(self, msg, code):
        super().__init__(msg)
        self.code = code


def hexs(b):
    return hexlify(b).decode()


def peek(msg):
    # (kind, recipient connection id or None): the first two bytes, strictly.
    if not len(msg):
        raise MessageDecodeError("empty message")
    kind = msg[0]
    if kind >> 4 != _VERSION:
        raise MessageDecodeError("message version %d, this is version 1" % (kind >> 4))
    if kind not in NAMES:
        raise MessageDecodeError("unknown message kind 0x%02x" % kind)
    if kind == MSG_1 or kind == RESUME_1:
        return kind, None
    if len(msg) < 2:
        raise MessageDecodeError("%s: truncated before its connection id" % NAMES[kind])
    return kind, msg[1]


def check(msg, kind, lo, hi):
    # The kind and length checks every decoder starts with (lo..hi bytes allowed).
    if not len(msg) or msg[0] != kind:
        raise MessageDecodeError("not a %s" % NAMES[kind])
    if not lo <= len(msg) <= hi:
        raise MessageDecodeError("%s: %d bytes, expected %d..%d" % (NAMES[kind], len(msg), lo, hi))


def encode_cred_id(cid):
    if len(cid) == KID_LEN:
        return bytes((_KID_PREFIX,)) + cid
    if len(cid) == 1 and cid[0] <= _SHORT_ID_MAX:
        return bytes(cid)
    raise EncodeError("credential id must be one byte 00..ef or an 8-byte key id")


def read_cred_id(buf, pos, where):
    # (credential id, position after it) from the ID_CRED field at buf[pos].
    if pos >= len(buf):
        raise MessageDecodeError("%s: truncated before ID_CRED" % where)
    b = buf[pos]
    if b <= _SHORT_ID_MAX:
        return bytes((b,)), pos + 1
    if b != _KID_PREFIX:
        raise MessageDecodeError("%s: ID_CRED prefix 0x%02x is reserved" % (where, b))
    if pos + 1 + KID_LEN > len(buf):
        raise MessageDecodeError("%s: ID_CRED key id truncated" % where)
    return bytes(buf[pos + 1:pos + 1 + KID_LEN]), pos + 1 + KID_LEN


def encode_error(conn_id, code):
    # error = 0x1F | C_x (the recipient) | code u8
    return bytes((ERROR, conn_id, code))


def decode_error(msg):
    # (recipient connection id, code)
    check(msg, ERROR, 3, 3)
    if msg[2] not in ERR_NAMES:
        raise MessageDecodeError("error: unknown error code %d" % msg[2])
    return msg[1], msg[2]


def error_code(exc):
    # The error message's code for an exception (any other decode error: malformed).
    code = getattr(exc, "code", None)
    if code in ERR_NAMES:
        return code
    return 1 if isinstance(exc, DecodeError) else 5


def kdf(prk, label, context, length):
    # EDHOC_KDF = HKDF-Expand(PRK, info, length); info = label u16 | len u16 | context | length u16
    from dtacore.backend import hmac_sha256
    info = struct.pack(">HH", label, len(context)) + context + struct.pack(">H", length)
    out = b""
    t = b""
    i = 1
    while len(out) < length:
        t = hmac_sha256(prk, t + info + bytes((i,)))
        out += t
        i += 1
    return out[:length]


def th(*parts):
    # A transcript hash: SHA-256 over the parts (each fixed-length or self-delimiting).
    h = hashlib.sha256(parts[0])
    for p in parts[1:]:
        h.update(p)
    return h.digest()


def xor(a, b):
    n = len(a)
    if not n:
        return b""
    return (int.from_bytes(a, "big") ^ int.from_bytes(b[:n], "big")).to_bytes(n, "big")
