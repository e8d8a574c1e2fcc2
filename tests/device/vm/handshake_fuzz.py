# The handshake's decoders under fuzzing, on whichever interpreter runs this file: the
# MicroPython VM (device) or CPython (tests/fuzz/test_handshake_fuzz.py imports verdict()).
#
#   micropython handshake_fuzz.py CORPUS     CORPUS: lines "<decoder> <hex>"; prints one
#                                            verdict per line, then "done <count>"
#
# A verdict is "ok <crc32 of the decoded fields>" or "E <error class>" for a typed error
# (dtacore.errors.ProtocolError); anything else is "X <class>", which the test reports.
import sys
from binascii import crc32, hexlify, unhexlify

from dtacore import handshake, handshake_wire, resumption, session
from dtacore.errors import ProtocolError

DECODERS = {
    "peek": handshake_wire.peek,
    "error": handshake_wire.decode_error,
    "message_1": handshake.decode_message_1,
    "message_2": handshake.decode_message_2,
    "plaintext_2": handshake.decode_plaintext_2,
    "message_3": handshake.decode_message_3,
    "plaintext_3": handshake.decode_plaintext_3,
    "message_4": handshake.decode_message_4,
    "ticket_info": resumption.decode_ticket_info,
    "resume_1": resumption.decode_resume_1,
    "resume_2": resumption.decode_resume_2,
    "ticket": resumption.decode_ticket,
    "record": session.decode_record,
}


def canonical(value):
    # The decoded fields as text: bytes as hex, ints in decimal, a Ticket as its encoding.
    if isinstance(value, (bytes, bytearray)):
        return hexlify(value).decode()
    if isinstance(value, tuple):
        return "(" + ",".join(canonical(v) for v in value) + ")"
    if isinstance(value, int) or value is None:
        return str(value)
    return "T" + hexlify(value.encode()).decode()


def verdict(name, data):
    try:
        out = DECODERS[name](data)
    except ProtocolError as e:
        return "E " + type(e).__name__
    except Exception as e:  # noqa: BLE001 (an untyped error is what the fuzz looks for)
        return "X " + type(e).__name__
    return "ok %08x" % (crc32(canonical(out).encode()) & 0xFFFFFFFF)


def main(path):
    count = 0
    with open(path) as f:
        for line in f:
            name, _, data = line.strip().partition(" ")
            sys.stdout.write(verdict(name, unhexlify(data)) + "\n")
            count += 1
    print("done", count)


if __name__ == "__main__":
    main(sys.argv[1])
