# The device's side of the handshake vectors in a small heap (tests/device/test_handshake_vm.py
# runs it at 96 KiB; bench/handshake.py probes the smallest heap it runs in), dtacore as .mpy,
# the harness as small as it can be (its code is in the probed heap).
#   micropython -m handshake_heap INPUTS KIB MODE
# INPUTS: one line of hex fields (no JSON in the probed heap): secret pubkey cred_id rng peer_id
# peer_key m1 m2 m3 m4 ticket r1 r2 rng_resume. KIB KiB of ballast are allocated first in 1 KiB
# blocks, headers included (a stand-in for the rest of the agent). MODE: full (a full
# handshake, its modules unloaded after it, then a resumed one), full-prepared (the same with
# the D-TA key through backend.prepare first, as the device caches it), resumed (a sleepy
# device's wake-up: the resumed handshake alone). Prints "ok <bytes in use after, ballast
# included> 0"; a message that differs from the vector, or a MemoryError, fails the run.
import gc
import sys
from binascii import unhexlify as ux

from dtacore import backend


class Stream:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def __call__(self, n):
        self.pos += n
        return self.data[self.pos - n:self.pos]


def expect(got, want, what):
    if got != want:
        raise ValueError("%s differs from the vector" % what)


def unload(before):
    # Drop the dtacore modules loaded since `before`, as the agent does after a stage.
    import dtacore
    for name in [n for n in sys.modules if n not in before and n.startswith("dtacore.")]:
        del sys.modules[name]
        if hasattr(dtacore, name[8:]):
            delattr(dtacore, name[8:])


def full(f, prepared):
    secret, pubkey, cred_id, rng, peer_id, peer_key, m1, m2, m3, m4 = f[:10]
    key = peer_key
    if prepared:
        before = set(sys.modules)
        key = backend.prepare(peer_key)
        unload(before)
    gc.collect()
    before = set(sys.modules)
    from dtacore import handshake
    i = handshake.Initiator(secret, pubkey, cred_id, Stream(rng),
                            lambda c, e: key if c == peer_id else None, unload=True)
    expect(i.start(), m1, "message_1")
    gc.collect()  # between messages, as the device does while it waits for the network
    expect(i.receive(m2), m3, "message_3")
    gc.collect()
    expect(i.receive(m4), None, "message_4 reply")
    ticket = i.ticket
    i = handshake = None
    unload(before)  # the full handshake's stage is over: only its ticket is kept
    gc.collect()
    return ticket


def resumed(f):
    ticket, r1, r2, rng = f[10:]
    from dtacore import resumption
    ri = resumption.ResumeInitiator(resumption.decode_ticket(ticket), Stream(rng))
    expect(ri.start(), r1, "resume_1")
    expect(ri.receive(r2), None, "resume_2 reply")
    return ri.session


def main(path, ballast_kib, mode):
    ballast = []
    gc.collect()
    base = gc.mem_alloc()
    while gc.mem_alloc() - base < 1024 * ballast_kib:  # blocks of 1 KiB with their headers
        ballast.append(bytearray(992))
    with open(path) as fh:
        f = [ux(x) for x in fh.read().split()]
    gc.collect()
    if mode != "resumed":
        full(f, mode == "full-prepared")
    session = resumed(f)
    gc.collect()
    print("ok", gc.mem_alloc() - base, session.next_seq)


def write_inputs(vectors, path):
    # CPython: the INPUTS line from full.json and resumed.json under the directory `vectors`.
    import json
    with open(vectors + "/full.json") as fh:
        full = json.load(fh)
    with open(vectors + "/resumed.json") as fh:
        res = json.load(fh)
    i, st, rst = full["parties"]["I"], full["steps"], res["steps"]
    peer = full["parties"]["R"]["cred_id"]
    fields = [i["secret"], i["pubkey"], i["cred_id"], i["rng"], peer, i["peers"][peer]]
    fields += [s["out"] for s in st[:4]]
    fields += [res["parties"]["I"]["ticket"], rst[0]["out"], rst[1]["out"],
               res["parties"]["I"]["rng"]]
    with open(path, "w") as fh:
        fh.write(" ".join(fields) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
