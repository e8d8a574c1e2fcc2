# Framing of wire frames on a serial line (UART, USB-serial, a PTY in tests). Host and device.
# Byte layout and a vector: docs/protocol.md (serial transport).
#
# record = SYNC(2) || len u16 BE || payload(len) || crc u32 BE
# SYNC = D7 A5; 1 <= len <= wire.MAX_FRAME; crc = CRC-32 (ISO-HDLC, binascii.crc32) over
# len || payload. A reader hunts for SYNC, so it recovers from line noise, a cut record or a
# reader that joined mid-stream; a record failing its length or CRC check is dropped and the hunt
# resumes one byte after that record's SYNC.

import binascii
import struct

from dtacore.errors import EncodeError
from dtacore.wire import MAX_FRAME

SYNC = b"\xd7\xa5"
HEAD_LEN = 4      # SYNC + len
CRC_LEN = 4
MAX_RECORD = HEAD_LEN + MAX_FRAME + CRC_LEN


def _crc(length_bytes, payload):
    return binascii.crc32(payload, binascii.crc32(length_bytes)) & 0xFFFFFFFF


def encode(payload):
    if not isinstance(payload, (bytes, bytearray)):
        raise EncodeError("serial payload must be bytes")
    n = len(payload)
    if not 1 <= n <= MAX_FRAME:
        raise EncodeError("serial payload must be 1..%d bytes" % MAX_FRAME)
    ln = struct.pack(">H", n)
    return SYNC + ln + bytes(payload) + struct.pack(">I", _crc(ln, payload))


class Deframer:
    # feed(bytes) returns a list of ("frame", payload) and ("error", reason) items, in order.
    # Reasons: "bad-length", "bad-crc", "cut-record". Bytes before a SYNC are skipped silently.
    # idle() is called by the reader when the line has been quiet: a record still incomplete then
    # was cut (or its length corrupted upwards), so it is dropped and the bytes after its SYNC are
    # searched again.
    def __init__(self):
        self.buf = bytearray()

    def idle(self):
        if len(self.buf) < 2 or self.buf[:2] != SYNC:
            return []
        self.buf = self.buf[1:]
        return [("error", "cut-record")] + self.feed(b"")

    def feed(self, data):
        self.buf.extend(data)
        out = []
        while True:
            i = self.buf.find(SYNC) if self.buf else -1
            if i < 0:
                # Keep a trailing first SYNC byte: the second may arrive in the next read.
                keep = 1 if self.buf[-1:] == SYNC[:1] else 0
                self.buf = self.buf[len(self.buf) - keep:]
                return out
            if i:
                self.buf = self.buf[i:]
            if len(self.buf) < HEAD_LEN:
                return out
            n = struct.unpack(">H", self.buf[2:4])[0]
            if n < 1 or n > MAX_FRAME:
                out.append(("error", "bad-length"))
                self.buf = self.buf[1:]
                continue
            end = HEAD_LEN + n + CRC_LEN
            if len(self.buf) < end:
                return out
            payload = bytes(self.buf[HEAD_LEN:HEAD_LEN + n])
            crc = struct.unpack(">I", self.buf[end - CRC_LEN:end])[0]
            if crc != _crc(bytes(self.buf[2:4]), payload):
                out.append(("error", "bad-crc"))
                self.buf = self.buf[1:]
                continue
            out.append(("frame", payload))
            self.buf = self.buf[end:]
