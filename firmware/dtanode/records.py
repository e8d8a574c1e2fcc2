# Small files stored atomically: write <name>.tmp, then rename over <name>. Each record carries a
# magic, a version and a SHA-256 check so a torn or foreign file is never taken for a key.
#
# record = magic(4) || version u8 || len u8 || payload || sha256(magic..payload)[:8]

import hashlib
import os

from dtacore.errors import DecodeError, EncodeError, ProtocolError

CHECK_LEN = 8
MAX_PAYLOAD = 255
_BYTES = (bytes, bytearray, memoryview)
# Files written since boot (this module's and the outbox's): the agent reports them per cycle,
# since flash wears out (docs/security.md, "The outbox").
writes = 0


class Missing(ProtocolError):
    pass


def encode(magic, payload):
    if (type(magic) is not bytes or len(magic) != 4 or not isinstance(payload, _BYTES)
            or len(payload) > MAX_PAYLOAD):
        raise EncodeError("bad record")
    head = magic + bytes((1, len(payload))) + payload
    return head + hashlib.sha256(head).digest()[:CHECK_LEN]


def decode(magic, data):
    if len(data) < 6 + CHECK_LEN:
        raise DecodeError("record truncated")
    if data[:4] != magic:
        raise DecodeError("record has the wrong magic")
    if data[4] != 1:
        raise DecodeError("record version %d unknown" % data[4])
    n = data[5]
    if len(data) != 6 + n + CHECK_LEN:
        raise DecodeError("record length mismatch")
    head = data[:6 + n]
    if hashlib.sha256(head).digest()[:CHECK_LEN] != data[6 + n:]:
        raise DecodeError("record check failed")
    return data[6:6 + n]


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def load(path, magic):
    # A leftover <path>.tmp is an interrupted write: the old record (if any) is still whole.
    if exists(path + ".tmp"):
        os.remove(path + ".tmp")
    try:
        with open(path, "rb") as f:
            data = f.read(6 + MAX_PAYLOAD + CHECK_LEN + 1)
    except OSError:
        raise Missing(path) from None
    return decode(magic, data)


def store(path, magic, payload):
    global writes
    writes += 1
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(encode(magic, payload))
        f.flush()
    os.rename(tmp, path)
