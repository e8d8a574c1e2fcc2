# The outbox: device events the gateway has not acknowledged yet, kept in flash across reboots
# and power cuts, and sent again after every reconnect (docs/security.md, "The outbox").
#
# One file, replaced whole by every change (write <name>.tmp, then rename: LittleFS and POSIX
# renames are atomic), so after a power cut at any point the file holds the old state or the
# new one, never a mix:
#
#   outbox = magic "DTOB" | version u8 | next u32 | dropped u32 | count u8 |
#            count x (len u16 | EVENT frame) | SHA-256(everything before)[:8]
#
# `next` is the next event id (the EVENT frame's counter): ids only grow, so the gateway's
# dedup by id gives one log entry per event however often it is sent. The ids are also
# reserved ahead in a small record (RESERVE at a time), so that an outbox found damaged (a
# flash fault: a power cut cannot tear it) never makes the device reuse an id. Bounded: when
# `capacity` events wait, the oldest is dropped and counted in `dropped`. A rewrite streams the
# old file through one frame buffer: memory does not grow with the outbox.

import hashlib
import os
import struct

from dtacore import wire
from dtacore.errors import DecodeError
from dtanode import records

MAGIC = b"DTOB"
VERSION = 1
FILE = "outbox.bin"
RESERVE_FILE = "evid.bin"
RESERVE_MAGIC = b"DTEI"
HEAD_LEN = 4 + 1 + 4 + 4 + 1
CHECK_LEN = 8
# Ids reserved per write of the reservation record: one flash write per 64 events.
RESERVE = 64
# An id is the frame's u32 counter, right after the 6-byte header and the 8-byte key id.
_ID_AT = wire.HEADER_LEN + 8
_buf = bytearray(wire.MAX_FRAME)


class OutboxError(DecodeError):
    pass


class Outbox:
    def __init__(self, root, capacity):
        self.path = root + "/" + FILE
        self.reserve_path = root + "/" + RESERVE_FILE
        self.capacity = capacity
        self.ids = []  # the waiting events' ids, oldest first
        self.next = 0
        self.dropped = 0
        self.damaged = None  # why a damaged outbox was set aside, for the boot report
        self.reserved = self._load_reserve()
        try:
            self._load()
        except OutboxError as e:
            self.damaged = str(e)
            os.rename(self.path, self.path + ".bad")
            self.ids = []
            self.next = self.reserved
        if self.next > self.reserved:  # an outbox from before the reservation record
            self.reserved = self.next

    def _load_reserve(self):
        try:
            return int.from_bytes(records.load(self.reserve_path, RESERVE_MAGIC), "big")
        except (records.Missing, DecodeError):
            return 0

    def _load(self):
        # Check the whole file's digest (streamed), then keep the ids.
        if records.exists(self.path + ".tmp"):
            os.remove(self.path + ".tmp")  # an interrupted rewrite: the old file is whole
        try:
            f = open(self.path, "rb")
        except OSError:
            return
        with f:
            head = f.read(HEAD_LEN)
            if len(head) != HEAD_LEN or head[:4] != MAGIC or head[4] != VERSION:
                raise OutboxError("outbox header unreadable")
            h = hashlib.sha256(head)
            nxt, dropped, count = struct.unpack(">IIB", head[5:])
            ids = []
            for _ in range(count):
                self._entry(f, h)
                ids.append(struct.unpack(">I", bytes(_buf[_ID_AT:_ID_AT + 4]))[0])
            if f.read(CHECK_LEN + 1) != h.digest()[:CHECK_LEN]:
                raise OutboxError("outbox check failed")
        self.ids, self.next, self.dropped = ids, nxt, dropped

    @staticmethod
    def _entry(f, h):
        # Read one entry into _buf (its digest into h); -> its length.
        ln = f.read(2)
        if len(ln) != 2:
            raise OutboxError("outbox truncated")
        h.update(ln)
        n = struct.unpack(">H", ln)[0]
        if not _ID_AT + 4 <= n <= wire.MAX_FRAME:
            raise OutboxError("outbox entry of %d bytes" % n)
        mv = memoryview(_buf)[:n]
        if f.readinto(mv) != n:
            raise OutboxError("outbox truncated")
        h.update(mv)
        return n

    def take_id(self):
        # -> a fresh event id, never handed out before (the reservation is written first).
        if self.next >= self.reserved:
            self.reserved = self.next + RESERVE
            records.store(self.reserve_path, RESERVE_MAGIC, self.reserved.to_bytes(4, "big"))
        i = self.next
        self.next += 1
        return i

    def add(self, frames):
        # Append EVENT frames (ids from take_id), dropping the oldest beyond capacity; one write.
        new = [struct.unpack(">I", bytes(fr[_ID_AT:_ID_AT + 4]))[0] for fr in frames]
        keep = self.ids + new
        drop = len(keep) - self.capacity
        if drop > 0:
            keep = keep[drop:]
            self.dropped += drop
        self._rewrite(keep, frames)

    def ack(self, upto):
        # The gateway has logged every event up to id `upto`: forget them (no write if none).
        keep = [i for i in self.ids if i > upto]
        if len(keep) != len(self.ids):
            self._rewrite(keep, ())
            return True
        return False

    def _rewrite(self, keep, frames):
        tmp = self.path + ".tmp"
        head = MAGIC + struct.pack(">BIIB", VERSION, self.next, self.dropped, len(keep))
        h = hashlib.sha256(head)
        with open(tmp, "wb") as out:
            out.write(head)
            for n in self._stream(keep):
                self._put(out, h, memoryview(_buf)[:n])
            for fr in frames:
                i = struct.unpack(">I", bytes(fr[_ID_AT:_ID_AT + 4]))[0]
                if i in keep:
                    self._put(out, h, fr)
            out.write(h.digest()[:CHECK_LEN])
        os.rename(tmp, self.path)
        records.writes += 1
        self.ids = keep

    @staticmethod
    def _put(out, h, frame):
        ln = struct.pack(">H", len(frame))
        out.write(ln)
        out.write(frame)
        h.update(ln)
        h.update(frame)

    def _stream(self, only=None):
        # Yield the length of each stored entry (in _buf), oldest first; only: ids to yield.
        if not self.ids or not records.exists(self.path):
            return
        with open(self.path, "rb") as f:
            f.read(HEAD_LEN)
            h = hashlib.sha256()
            for i in list(self.ids):
                n = self._entry(f, h)
                if only is None or i in only:
                    yield n

    def frames(self):
        # Yield each waiting EVENT frame (bytes), oldest first, read one at a time from flash.
        for n in self._stream():
            yield bytes(_buf[:n])
