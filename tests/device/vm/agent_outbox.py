# The outbox under power cuts (tests/device/test_agent_outbox.py), on the MicroPython VM.
#   agent_outbox.py write DIR SEED   add and acknowledge events forever, printing before each
#                                    change "begin <state>" (the state it makes) and after it
#                                    "done"; the test SIGKILLs the VM at random moments
#   agent_outbox.py check DIR        load the outbox; print "state <state>" and check every
#                                    frame is the one its id was made with
# <state> = next dropped id,id,... ; a frame's payload is derived from its id, so a torn or
# mixed write cannot pass the check.

import hashlib
import sys

from dtacore import channel
from dtanode.outbox import Outbox

KID = b"\x11" * 8
CAPACITY = 6


def frame(i):
    payload = hashlib.sha256(b"event %d" % i).digest()[: 8 + i % 40]
    sig = hashlib.sha256(b"sig %d" % i).digest() * 2
    return channel.event_frame(KID, i, 0x80, payload, sig)


def state(ob):
    return "%d %d %s" % (ob.next, ob.dropped, ",".join(str(i) for i in ob.ids) or "-")


def check(root):
    ob = Outbox(root, CAPACITY)
    n = 0
    for fr in ob.frames():
        i = ob.ids[n]
        if fr != frame(i):
            print("torn frame", i)
            sys.exit(1)
        n += 1
    if n != len(ob.ids) or ob.damaged:
        print("damaged", ob.damaged)
        sys.exit(1)
    print("state", state(ob))


def write(root, seed):
    ob = Outbox(root, CAPACITY)
    r = seed
    print("ready", state(ob))
    while True:
        r = (r * 1103515245 + 12345) & 0x7FFFFFFF
        if r % 3 == 0 and ob.ids:
            upto = ob.ids[r % len(ob.ids)]
            keep = [i for i in ob.ids if i > upto]
            print("begin %d %d %s" % (ob.next, ob.dropped, ",".join(str(i) for i in keep) or "-"))
            ob.ack(upto)
        else:
            n = 1 + r % 3
            ids = [ob.take_id() for _ in range(n)]
            keep = ob.ids + ids
            dropped = ob.dropped + max(0, len(keep) - CAPACITY)
            keep = keep[max(0, len(keep) - CAPACITY):]
            print("begin %d %d %s" % (ob.next, dropped, ",".join(str(i) for i in keep)))
            ob.add([frame(i) for i in ids])
        print("done")


if sys.argv[1] == "write":
    write(sys.argv[2], int(sys.argv[3]))
else:
    check(sys.argv[2])
