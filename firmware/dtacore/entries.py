# Typed transparency-log entries and their one canonical binary encoding (host and device).
#
# Every entry: version u8 (=1) | type u8 | body. Integers are big-endian. Variable fields carry a
# length prefix and a named maximum. Decoding is strict: unknown version or type, truncation,
# over-limit lengths and trailing bytes are DecodeError. Equality is equality of encodings.
# Constructors and encode() given a value they cannot encode (a wrong length, an integer outside
# its field) raise EncodeError; decode() turns that into a DecodeError, since there the value
# came from the bytes.
#
# Entries whose content an outsider could guess (a subject name, a device key, a board name) start
# with a random 16-byte salt, so a leaf hash seen in someone else's inclusion proof cannot be
# confirmed by hashing guesses. Entries whose content is public anyway (anchors, key rotations)
# or already unguessable (device events carry the device's signature) have no salt.

import hashlib
import os
import struct

from dtacore.errors import DecodeError, EncodeError

VERSION = 1

SALT_SIZE = 16  # 128 random bits: far beyond any guessing budget
PUBKEY_SIZE = 33  # compressed secp256k1 point
SIG_SIZE = 64  # compact r || s
HASH_SIZE = 32

# An OIDC subject is iss + " " + sub: sub is at most 255 ASCII characters (OIDC Core 5.1) and an
# issuer URL fits in 255 in every deployment we know; 512 covers both with room for a client id.
MAX_SUBJECT = 512
# Board names are identifiers from boards/*.json ("esp32-devkitc"); 32 is generous for those.
MAX_BOARD = 32
# A device event must fit one device frame (the gateway drops frames over 512 bytes) together
# with the key, counter and signature, so its payload cannot exceed 256 bytes.
MAX_EVENT_PAYLOAD = 256
# Upper bound on any encoded entry: the largest type (share issued/refused with MAX_SUBJECT)
# is < 600 bytes; the store and decoders refuse anything larger before parsing.
MAX_ENTRY_SIZE = 1024

SHARE_ISSUED = 1
SHARE_REFUSED = 2
DEVICE_ENROLLED = 3
DEVICE_EVENT = 4
KEY_ROTATION = 5
CHECKPOINT_ANCHORED = 6
DEVICE_REVOKED = 7

# Share refusal reasons.
REFUSED_UNAUTHENTICATED = 1
REFUSED_NOT_ENROLLED = 2
REFUSED_RATE_LIMITED = 3
REFUSED_POLICY = 4
_MAX_REASON = 4

# Key rotation kinds.
ROTATE_IDENTITY = 1
ROTATE_SHARE_EPOCH = 2
ROTATE_DEVICE = 3
_MAX_KEY_KIND = 3

# Device revocation reasons.
REVOKED_RETIRED = 1  # taken out of service
REVOKED_COMPROMISED = 2  # its key is, or may be, known to someone else
REVOKED_OTHER = 3  # the operator's decision, for a reason not listed
_MAX_REVOKE_REASON = 3

# Domain separation for the digest a device signs over an event.
DEVICE_EVENT_DOMAIN = b"dta/v1 device-event\x00"


class _Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def take(self, n):
        end = self.pos + n
        if end > len(self.data):
            raise DecodeError("entry truncated")
        out = bytes(self.data[self.pos:end])
        self.pos = end
        return out

    def u8(self):
        return self.take(1)[0]

    def u32(self):
        return struct.unpack(">I", self.take(4))[0]

    def u64(self):
        return struct.unpack(">Q", self.take(8))[0]

    def var(self, size_fmt, limit, what):
        n = struct.unpack(size_fmt, self.take(struct.calcsize(size_fmt)))[0]
        if n > limit:
            raise DecodeError(what + " longer than its limit")
        return self.take(n)

    def end(self):
        if self.pos != len(self.data):
            raise DecodeError("trailing bytes after entry")


def _var(size_fmt, value, limit, what):
    if len(value) > limit:
        raise EncodeError(what + " longer than its limit")
    return struct.pack(size_fmt, len(value)) + bytes(value)


def _fixed(value, size, what):
    if not isinstance(value, (bytes, bytearray)) or len(value) != size:
        raise EncodeError(what + " has the wrong length")
    return bytes(value)


def _bytes(value, what):
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise EncodeError(what + " must be bytes")
    return bytes(value)


def _uint(value, bits, what):
    # value as an unsigned integer field of `bits` bits (never a bool).
    if type(value) is not int or value < 0 or value >> bits:
        raise EncodeError("%s must be an integer in 0..2^%d-1" % (what, bits))
    return value


def _salt(salt):
    return os.urandom(SALT_SIZE) if salt is None else _fixed(salt, SALT_SIZE, "salt")


class Entry:
    TYPE = 0

    def encode(self):
        out = bytes((VERSION, self.TYPE)) + self._body()
        if len(out) > MAX_ENTRY_SIZE:
            raise EncodeError("entry over MAX_ENTRY_SIZE")
        return out

    def __eq__(self, other):
        return isinstance(other, Entry) and self.encode() == other.encode()

    def __hash__(self):
        return hash(self.encode())


class ShareIssued(Entry):
    # salt16 | time_ms u64 | epoch u32 | subject (u16 len) | public share P_i (33)
    TYPE = SHARE_ISSUED

    def __init__(self, subject, epoch, public_share, time_ms, salt=None):
        self.salt = _salt(salt)
        self.time_ms = _uint(time_ms, 64, "time_ms")
        self.epoch = _uint(epoch, 32, "epoch")
        self.subject = _bytes(subject, "subject")
        self.public_share = _fixed(public_share, PUBKEY_SIZE, "public share")

    def _body(self):
        return (self.salt + struct.pack(">QI", self.time_ms, self.epoch)
                + _var(">H", self.subject, MAX_SUBJECT, "subject") + self.public_share)

    @classmethod
    def _decode(cls, r):
        salt = r.take(SALT_SIZE)
        time_ms = r.u64()
        epoch = r.u32()
        subject = r.var(">H", MAX_SUBJECT, "subject")
        return cls(subject, epoch, r.take(PUBKEY_SIZE), time_ms, salt)


class ShareRefused(Entry):
    # salt16 | time_ms u64 | epoch u32 | subject (u16 len) | reason u8
    TYPE = SHARE_REFUSED

    def __init__(self, subject, epoch, reason, time_ms, salt=None):
        if type(reason) is not int or reason < 1 or reason > _MAX_REASON:
            raise EncodeError("unknown refusal reason")
        self.salt = _salt(salt)
        self.time_ms = _uint(time_ms, 64, "time_ms")
        self.epoch = _uint(epoch, 32, "epoch")
        self.subject = _bytes(subject, "subject")
        self.reason = reason

    def _body(self):
        return (self.salt + struct.pack(">QI", self.time_ms, self.epoch)
                + _var(">H", self.subject, MAX_SUBJECT, "subject") + bytes((self.reason,)))

    @classmethod
    def _decode(cls, r):
        salt = r.take(SALT_SIZE)
        time_ms = r.u64()
        epoch = r.u32()
        subject = r.var(">H", MAX_SUBJECT, "subject")
        return cls(subject, epoch, r.u8(), time_ms, salt)


class DeviceEnrolled(Entry):
    # salt16 | time_ms u64 | device public key (33) | board (u8 len, ASCII)
    TYPE = DEVICE_ENROLLED

    def __init__(self, device_key, board, time_ms, salt=None):
        self.salt = _salt(salt)
        self.time_ms = _uint(time_ms, 64, "time_ms")
        self.device_key = _fixed(device_key, PUBKEY_SIZE, "device key")
        self.board = _bytes(board, "board")

    def _body(self):
        return (self.salt + struct.pack(">Q", self.time_ms) + self.device_key
                + _var(">B", self.board, MAX_BOARD, "board"))

    @classmethod
    def _decode(cls, r):
        salt = r.take(SALT_SIZE)
        time_ms = r.u64()
        key = r.take(PUBKEY_SIZE)
        return cls(key, r.var(">B", MAX_BOARD, "board"), time_ms, salt)


class DeviceEvent(Entry):
    # time_ms u64 (host receive time) | device key (33) | counter u32 | kind u8 |
    # payload (u16 len) | signature (64) by the device key over signed_digest()
    TYPE = DEVICE_EVENT

    def __init__(self, device_key, counter, kind, payload, signature, time_ms):
        self.time_ms = _uint(time_ms, 64, "time_ms")
        self.device_key = _fixed(device_key, PUBKEY_SIZE, "device key")
        self.counter = _uint(counter, 32, "counter")
        self.kind = _uint(kind, 8, "kind")
        self.payload = _bytes(payload, "event payload")
        self.signature = _fixed(signature, SIG_SIZE, "signature")

    def signed_digest(self):
        return event_digest(self.device_key, self.counter, self.kind, self.payload)

    def signature_valid(self, verify):
        # verify: callable(pubkey33, digest32, sig64) -> bool (dtacore.backend.verify). The log
        # stores what the gateway accepted; this lets anyone re-check an event from a receipt.
        return bool(verify(self.device_key, self.signed_digest(), self.signature))

    def _body(self):
        return (struct.pack(">Q", self.time_ms) + self.device_key
                + struct.pack(">IB", self.counter, self.kind)
                + _var(">H", self.payload, MAX_EVENT_PAYLOAD, "event payload") + self.signature)

    @classmethod
    def _decode(cls, r):
        time_ms = r.u64()
        key = r.take(PUBKEY_SIZE)
        counter = r.u32()
        kind = r.u8()
        payload = r.var(">H", MAX_EVENT_PAYLOAD, "event payload")
        return cls(key, counter, kind, payload, r.take(SIG_SIZE), time_ms)


def event_digest(device_key, counter, kind, payload):
    # What the device signs: SHA-256(domain | key | counter u32 | kind u8 | len u16 | payload).
    payload = _bytes(payload, "event payload")
    if len(payload) > MAX_EVENT_PAYLOAD:
        raise EncodeError("event payload longer than its limit")
    _uint(counter, 32, "counter")
    _uint(kind, 8, "kind")
    h = hashlib.sha256(DEVICE_EVENT_DOMAIN)
    h.update(_fixed(device_key, PUBKEY_SIZE, "device key"))
    h.update(struct.pack(">IBH", counter, kind, len(payload)))
    h.update(payload)
    return h.digest()


class KeyRotation(Entry):
    # time_ms u64 | key kind u8 | epoch u32 | old public key (33) | new public key (33)
    TYPE = KEY_ROTATION

    def __init__(self, key_kind, epoch, old_key, new_key, time_ms):
        if type(key_kind) is not int or key_kind < 1 or key_kind > _MAX_KEY_KIND:
            raise EncodeError("unknown key kind")
        self.time_ms = _uint(time_ms, 64, "time_ms")
        self.key_kind = key_kind
        self.epoch = _uint(epoch, 32, "epoch")
        self.old_key = _fixed(old_key, PUBKEY_SIZE, "old key")
        self.new_key = _fixed(new_key, PUBKEY_SIZE, "new key")

    def _body(self):
        return (struct.pack(">QBI", self.time_ms, self.key_kind, self.epoch)
                + self.old_key + self.new_key)

    @classmethod
    def _decode(cls, r):
        time_ms = r.u64()
        kind = r.u8()
        epoch = r.u32()
        old = r.take(PUBKEY_SIZE)
        return cls(kind, epoch, old, r.take(PUBKEY_SIZE), time_ms)


class CheckpointAnchored(Entry):
    # time_ms u64 | checkpoint seq u64 | tree size u64 | root (32) | txid (32, RPC byte order)
    # | block height u32
    TYPE = CHECKPOINT_ANCHORED

    def __init__(self, seq, tree_size, root, txid, height, time_ms):
        self.time_ms = _uint(time_ms, 64, "time_ms")
        self.seq = _uint(seq, 64, "seq")
        self.tree_size = _uint(tree_size, 64, "tree size")
        self.root = _fixed(root, HASH_SIZE, "root")
        self.txid = _fixed(txid, HASH_SIZE, "txid")
        self.height = _uint(height, 32, "height")

    def _body(self):
        return (struct.pack(">QQQ", self.time_ms, self.seq, self.tree_size) + self.root
                + self.txid + struct.pack(">I", self.height))

    @classmethod
    def _decode(cls, r):
        time_ms = r.u64()
        seq = r.u64()
        size = r.u64()
        root = r.take(HASH_SIZE)
        txid = r.take(HASH_SIZE)
        return cls(seq, size, root, txid, r.u32(), time_ms)


class DeviceRevoked(Entry):
    # salt16 | time_ms u64 | device public key (33) | reason u8
    TYPE = DEVICE_REVOKED

    def __init__(self, device_key, reason, time_ms, salt=None):
        if type(reason) is not int or reason < 1 or reason > _MAX_REVOKE_REASON:
            raise EncodeError("unknown revocation reason")
        self.salt = _salt(salt)
        self.time_ms = _uint(time_ms, 64, "time_ms")
        self.device_key = _fixed(device_key, PUBKEY_SIZE, "device key")
        self.reason = reason

    def _body(self):
        return (self.salt + struct.pack(">Q", self.time_ms) + self.device_key
                + bytes((self.reason,)))

    @classmethod
    def _decode(cls, r):
        salt = r.take(SALT_SIZE)
        time_ms = r.u64()
        key = r.take(PUBKEY_SIZE)
        return cls(key, r.u8(), time_ms, salt)


TYPES = {
    SHARE_ISSUED: ShareIssued,
    SHARE_REFUSED: ShareRefused,
    DEVICE_ENROLLED: DeviceEnrolled,
    DEVICE_EVENT: DeviceEvent,
    KEY_ROTATION: KeyRotation,
    CHECKPOINT_ANCHORED: CheckpointAnchored,
    DEVICE_REVOKED: DeviceRevoked,
}


def decode(data):
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DecodeError("an entry is bytes")
    if len(data) > MAX_ENTRY_SIZE:
        raise DecodeError("entry over MAX_ENTRY_SIZE")
    if len(data) < 2:
        raise DecodeError("entry truncated")
    if data[0] != VERSION:
        raise DecodeError("unknown entry version")
    cls = TYPES.get(data[1])
    if cls is None:
        raise DecodeError("unknown entry type")
    r = _Reader(data)
    r.pos = 2
    try:
        entry = cls._decode(r)
    except EncodeError as e:  # a decoded field the constructor refuses (a reason, a key kind)
        raise DecodeError(str(e)) from None
    r.end()
    return entry
