# Runs on the MicroPython VM: decode and verify the hello vector with the firmware's own ECDSA,
# then every byte flipped in turn must be refused. Prints one result line per case.
import json
import sys

from dtacore import ecdsa, wire
from dtacore.errors import ProtocolError

with open(sys.argv[1]) as f:
    vec = json.load(f)
frame = bytes.fromhex(vec["frame"])
h = wire.verify_hello(wire.decode_hello(frame), ecdsa.verify)
print("ok", wire._hex(h.key_id), h.boot, h.board, h.firmware)
refused = 0
buf = bytearray(frame)
for i in range(len(buf)):
    buf[i] ^= 0xFF
    try:
        wire.verify_hello(wire.decode_hello(bytes(buf)), ecdsa.verify)
        print("ACCEPTED", i)
    except ProtocolError:
        refused += 1
    buf[i] ^= 0xFF
print("refused", refused, "of", len(buf))
