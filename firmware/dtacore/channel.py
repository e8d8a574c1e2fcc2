# The device <-> D-TA channel, for host and device (docs/protocol.md, "The D-TA channel").
#
# Channel frames use dtacore.wire's envelope ("DT" | version | type | len) with two types:
#   TYPE_TO_DTA     device -> D-TA    body = dta (8) | device (8) | payload
#   TYPE_TO_DEVICE  D-TA -> device    body = dta (8) | device (8) | payload
# dta is the first 8 bytes of the D-TA id, device the device's key id. Over MQTT a frame goes
# on the topic naming the same two ids (topic_to_dta / topic_to_device); over a serial line the
# gateway bridges frames between the line and those topics by the ids in the frame.
#
# The payload's first byte says what it is:
#   0x10..0x1f  a handshake message or session record (dtacore.handshake, session, resumption)
#   0x20        TRUST_REQUEST   device -> D-TA: trusted height u32 (the header the device
#                               trusts, to which the bundle's headers must link)
#   0x21        TRUST_PART      D-TA -> device: one dtacore.trust bundle part
#   0x22        TRUST_REFUSED   D-TA -> device: reason u8 (TRUST_*): no bundle follows
#
# Inside a session record the plaintext is one application message (MSG_* below); every one of
# them fits one record, and a receipt travels as RECEIPT parts, reassembled by the device.
#
# Device events go to the gateway, not to a D-TA, in two more frame types:
#   TYPE_EVENT      device -> gateway  body = kid 8 | counter u32 | kind u8 | len u16 |
#                                             payload | sig 64
#                   sig by the device key over dtacore.entries.event_digest(key, counter, kind,
#                   payload): the DeviceEvent entry the gateway logs carries it, so anyone can
#                   check the event with the device's key.
#   TYPE_EVENT_ACK  gateway -> device  body = kid 8 | counter u32 | dta 8 | sig 64
#                   sig by the gateway's D-TA identity key over SHA-256(ACK_DOMAIN | kid |
#                   counter u32): every event of this device up to `counter` is in the log.

import struct

from dtacore import wire
from dtacore.errors import DecodeError, EncodeError

TYPE_EVENT = 0x02
TYPE_EVENT_ACK = 0x03
TYPE_TO_DTA = 0x10
TYPE_TO_DEVICE = 0x11
ACK_DOMAIN = b"DTA/v1/event-ack\x00"
SIG_LEN = 64
# Event kinds the firmware itself reports; APP_EVENT and up are the application's own.
EVENT_BOOT = 1            # boot counter u32 | firmware version
EVENT_HANDSHAKE = 2       # dta 8 | 0 full, 1 resumed
EVENT_SHARES_COMBINED = 3  # epoch u32 | combined public key 33
EVENT_RECEIPT = 4         # dta 8 | log index u64 | 0 valid or the failing link's index + 1
EVENT_TRUST = 5           # dta 8 | 0 trusted or the failing link's index + 1
EVENT_REPORT = 6          # short ASCII text: an offline or refusal report
APP_EVENT = 0x80
ID_LEN = 8
ROUTING_LEN = 2 * ID_LEN
# The payload of one frame: a handshake message (message_2 at most 236 bytes) or a record
# whose plaintext is at most MAX_MESSAGE.
MAX_PAYLOAD = wire.MAX_BODY - ROUTING_LEN
HANDSHAKE_FIRST = 0x10
HANDSHAKE_LAST = 0x1F
TRUST_REQUEST = 0x20
TRUST_PART = 0x21
TRUST_REFUSED = 0x22
# Why a D-TA sends no bundle (TRUST_REFUSED): a typed answer, never silence.
TRUST_UNBORN = 1        # its Birth Record is not confirmed on its node yet: ask again later
TRUST_HEIGHT_UNKNOWN = 2  # the device's trusted height is not on the D-TA node's chain
TRUST_TOO_FAR = 3       # more headers after that height than one bundle holds
TRUST_NO_NODE = 4       # the D-TA cannot reach its node now: ask again later
TRUST_MALFORMED = 5     # the request does not parse
_TRUST_REASONS = 5

# Application messages (plaintext of a session record).
MSG_SHARE_REQUEST = 1  # epoch u32
MSG_SHARE = 2          # share 32 | dtacore.shares statement
MSG_SHARE_REFUSED = 3  # epoch u32 | reason u8 (dtacore.entries.REFUSED_*)
MSG_RECEIPT = 4        # log index u64 | part u8 | last u8 | data
MSG_TIME = 5           # the D-TA's clock, Unix seconds u64 (authenticated by the session)
MSG_VOUCHER = 6        # a dtacore.voucher voucher for this device (76 bytes)
MSG_RECEIPT_REQUEST = 7  # device -> D-TA: log index u64 | trusted height u32: that entry's
#                          receipt again, anchored with the headers after that height if it is
# A record's plaintext: the payload bound minus the record's header and tag (dtacore.session).
MAX_MESSAGE = MAX_PAYLOAD - 6 - 8
RECEIPT_CHUNK = MAX_MESSAGE - 11
# A receipt a device reassembles: an entry (<= 1 KiB), a proof (<= 64 hashes), a note
# (<= 4 KiB), an anchor's transaction, merkle proof and a few headers. Refused beyond.
MAX_RECEIPT = 8192


def _id(value, what):
    if not isinstance(value, (bytes, bytearray)) or len(value) != ID_LEN:
        raise EncodeError(what + " id must be 8 bytes")
    return bytes(value)


def encode(ftype, dta, device, payload):
    if ftype != TYPE_TO_DTA and ftype != TYPE_TO_DEVICE:
        raise EncodeError("not a channel frame type")
    if not 1 <= len(payload) <= MAX_PAYLOAD:
        raise EncodeError("channel payload must be 1..%d bytes" % MAX_PAYLOAD)
    return (wire.header(ftype, ROUTING_LEN + len(payload)) + _id(dta, "D-TA")
            + _id(device, "device") + bytes(payload))


def decode(frame):
    # -> (type, dta id 8, device id 8, payload)
    ftype, body = wire.parse_header(frame)
    if ftype != TYPE_TO_DTA and ftype != TYPE_TO_DEVICE:
        raise DecodeError("frame type 0x%02x is not a channel frame" % ftype)
    if len(body) <= ROUTING_LEN:
        raise DecodeError("channel frame without a payload")
    return ftype, bytes(body[0:8]), bytes(body[8:16]), bytes(body[16:])


def _hex(b):
    return "".join("%02x" % x for x in b)


def topic_to_dta(prefix, dta, device):
    return "%s/dta/%s/%s" % (prefix, _hex(dta), _hex(device))


def topic_to_device(prefix, device, dta):
    return "%s/dev/%s/%s" % (prefix, _hex(device), _hex(dta))


def trust_request(height):
    if not 0 <= height <= 0xFFFFFFFF:
        raise EncodeError("height must fit 32 bits")
    return bytes((TRUST_REQUEST,)) + struct.pack(">I", height)


def decode_trust_request(payload):
    if len(payload) != 5 or payload[0] != TRUST_REQUEST:
        raise DecodeError("a trust request is 5 bytes")
    return struct.unpack(">I", bytes(payload[1:5]))[0]


def trust_part(part):
    return bytes((TRUST_PART,)) + bytes(part)


def trust_refused(reason):
    if not 1 <= reason <= _TRUST_REASONS:
        raise EncodeError("unknown trust refusal reason")
    return bytes((TRUST_REFUSED, reason))


def decode_trust_refused(payload):
    if len(payload) != 2 or payload[0] != TRUST_REFUSED or not 1 <= payload[1] <= _TRUST_REASONS:
        raise DecodeError("a trust refusal is 2 bytes with a known reason")
    return payload[1]


def receipt_request(log_index, height):
    if not 0 <= log_index < 1 << 64 or not 0 <= height <= 0xFFFFFFFF:
        raise EncodeError("log index 64 bits, height 32 bits")
    return bytes((MSG_RECEIPT_REQUEST,)) + struct.pack(">QI", log_index, height)


def share_request(epoch):
    if not 0 <= epoch <= 0xFFFFFFFF:
        raise EncodeError("epoch must fit 32 bits")
    return bytes((MSG_SHARE_REQUEST,)) + struct.pack(">I", epoch)


def share(share_bytes, statement):
    out = bytes((MSG_SHARE,)) + bytes(share_bytes) + bytes(statement)
    if len(share_bytes) != 32 or len(out) > MAX_MESSAGE:
        raise EncodeError("a share is 32 bytes and the message at most %d" % MAX_MESSAGE)
    return out


def share_refused(epoch, reason):
    return bytes((MSG_SHARE_REFUSED,)) + struct.pack(">IB", epoch, reason)


def voucher_message(voucher):
    if len(voucher) != 76:
        raise EncodeError("a voucher is 76 bytes")
    return bytes((MSG_VOUCHER,)) + bytes(voucher)


def time_message(seconds):
    return bytes((MSG_TIME,)) + struct.pack(">Q", seconds)


def receipt_parts(log_index, receipt):
    # A binary receipt (dtacore.receipt_bytes) cut into MSG_RECEIPT messages.
    if not 1 <= len(receipt) <= MAX_RECEIPT:
        raise EncodeError("a receipt is 1..%d bytes" % MAX_RECEIPT)
    chunks = [receipt[i:i + RECEIPT_CHUNK] for i in range(0, len(receipt), RECEIPT_CHUNK)]
    return [bytes((MSG_RECEIPT,)) + struct.pack(">QBB", log_index, i, i == len(chunks) - 1)
            + bytes(c) for i, c in enumerate(chunks)]


def decode_message(plaintext):
    # -> (kind, fields): SHARE_REQUEST (epoch,), SHARE (share, statement bytes),
    # SHARE_REFUSED (epoch, reason), RECEIPT (log index, part, last, data), TIME (seconds,),
    # VOUCHER (voucher,), RECEIPT_REQUEST (log index, trusted height)
    n = len(plaintext)
    kind = plaintext[0] if n else 0
    body = bytes(plaintext[1:])
    if kind == MSG_SHARE_REQUEST and n == 5:
        return kind, struct.unpack(">I", body)
    if kind == MSG_SHARE and 33 < n <= MAX_MESSAGE:
        return kind, (body[:32], body[32:])
    if kind == MSG_SHARE_REFUSED and n == 6:
        return kind, struct.unpack(">IB", body)
    if kind == MSG_RECEIPT and 11 < n <= MAX_MESSAGE and body[9] in (0, 1):
        index, part, last = struct.unpack(">QBB", body[:10])
        return kind, (index, part, last, body[10:])
    if kind == MSG_TIME and n == 9:
        return kind, struct.unpack(">Q", body)
    if kind == MSG_VOUCHER and n == 77:
        return kind, (body,)
    if kind == MSG_RECEIPT_REQUEST and n == 13:
        return kind, struct.unpack(">QI", body)
    raise DecodeError("not an application message (kind %d, %d bytes)" % (kind, n))


class ReceiptAssembler:
    # Collects one receipt's MSG_RECEIPT parts in order; add() -> the whole receipt when the
    # last part arrives, else None. A part out of order or over MAX_RECEIPT is refused.
    def __init__(self):
        self.index = None
        self.buf = bytearray()
        self.next = 0

    def add(self, index, part, last, data):
        if part == 0:
            self.index, self.buf, self.next = index, bytearray(), 0
        if index != self.index or part != self.next:
            raise DecodeError("receipt part %d of %r out of order" % (part, index))
        if len(self.buf) + len(data) > MAX_RECEIPT:
            raise DecodeError("receipt over MAX_RECEIPT")
        self.buf.extend(data)
        self.next += 1
        if last:
            out = bytes(self.buf)
            self.index, self.buf, self.next = None, bytearray(), 0
            return out
        return None


def _u32(value, what):
    if not 0 <= value <= 0xFFFFFFFF:
        raise EncodeError(what + " must fit 32 bits")
    return struct.pack(">I", value)


def event_frame(kid, counter, kind, payload, signature):
    from dtacore.entries import MAX_EVENT_PAYLOAD
    if not 0 <= kind <= 0xFF or len(payload) > MAX_EVENT_PAYLOAD or len(signature) != SIG_LEN:
        raise EncodeError("event kind a byte, payload <= %d bytes, signature 64 bytes"
                          % MAX_EVENT_PAYLOAD)
    body = (_id(kid, "device") + _u32(counter, "counter") + bytes((kind,))
            + struct.pack(">H", len(payload)) + bytes(payload) + bytes(signature))
    return wire.header(TYPE_EVENT, len(body)) + body


def decode_event(frame):
    # -> (kid, counter, kind, payload, signature)
    from dtacore.entries import MAX_EVENT_PAYLOAD
    ftype, body = wire.parse_header(frame)
    if ftype != TYPE_EVENT:
        raise DecodeError("frame type 0x%02x is not EVENT" % ftype)
    if len(body) < 15 + SIG_LEN:
        raise DecodeError("event frame truncated")
    counter, kind, plen = struct.unpack(">IBH", bytes(body[8:15]))
    if plen > MAX_EVENT_PAYLOAD or len(body) != 15 + plen + SIG_LEN:
        raise DecodeError("event payload length %d does not match the frame" % plen)
    return (bytes(body[0:8]), counter, kind, bytes(body[15:15 + plen]),
            bytes(body[15 + plen:]))


def ack_digest(kid, counter):
    import hashlib
    h = hashlib.sha256(ACK_DOMAIN)
    h.update(_id(kid, "device"))
    h.update(_u32(counter, "counter"))
    return h.digest()


def ack_frame(kid, counter, dta, signature):
    if len(signature) != SIG_LEN:
        raise EncodeError("signature must be 64 bytes")
    body = _id(kid, "device") + _u32(counter, "counter") + _id(dta, "D-TA") + bytes(signature)
    return wire.header(TYPE_EVENT_ACK, len(body)) + body


def decode_ack(frame):
    # -> (kid, counter, dta, signature); the device checks the signature with the D-TA's key.
    ftype, body = wire.parse_header(frame)
    if ftype != TYPE_EVENT_ACK or len(body) != 8 + 4 + 8 + SIG_LEN:
        raise DecodeError("not an EVENT_ACK frame of %d bytes" % (6 + 20 + SIG_LEN))
    return (bytes(body[0:8]), struct.unpack(">I", bytes(body[8:12]))[0], bytes(body[12:20]),
            bytes(body[20:]))


def event_topic(prefix, kid):
    return "%s/event/%s" % (prefix, _hex(kid))


def ack_topic(prefix, kid):
    return "%s/ack/%s" % (prefix, _hex(kid))


def d2d_topic(prefix, to_kid, from_kid):
    return "%s/d2d/%s/%s" % (prefix, _hex(to_kid), _hex(from_kid))
