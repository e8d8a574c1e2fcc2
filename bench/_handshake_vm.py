# MicroPython side of bench/handshake.py (run by it on the VM; not a benchmark module itself).
# The device's half of the handshake vectors (tests/vectors/handshake/full.json, resumed.json),
# replayed: the device's keys and randomness are the vector's, the peer's messages are the
# vector's, and every message the device produces is checked against the vector's bytes.
#
#   micropython -m _handshake_vm speed FULL RESUMED [embit]   ms per device-side operation
# The heap probe is tests/device/vm/handshake_heap.py (small: its code is in the probed heap).
import gc
import json
import sys
import time
from binascii import unhexlify as ux

from dtacore import backend


class Stream:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def __call__(self, n):
        self.pos += n
        return self.data[self.pos - n:self.pos]


def load(path):
    with open(path) as f:
        return json.load(f)


def messages(v):
    # [(party, in bytes or None, out bytes or None)] of the vector's handshake steps
    out = []
    for st in v["steps"]:
        if "start" in st or "in" in st:
            out.append((st["party"], ux(st["in"]) if "in" in st else None,
                        ux(st["out"]) if st.get("out") else None))
    return out


def _lookup(spec, prepared):
    peers = dict((ux(k), ux(p)) for k, p in spec["peers"].items())

    def lookup(cred_id, ead):
        pub = peers.get(cred_id)
        if pub is None:
            return None
        return prepared.get(pub, pub)
    return lookup


def _expect(got, want, what):
    if got != want:
        raise ValueError("%s differs from the vector" % what)


def device_initiator(v, prepared, unload=True):
    from dtacore import handshake
    spec = v["parties"]["I"]
    msgs = messages(v)
    i = handshake.Initiator(ux(spec["secret"]), ux(spec["pubkey"]), ux(spec["cred_id"]),
                            Stream(ux(spec["rng"])), _lookup(spec, prepared), unload=unload)
    _expect(i.start(), msgs[0][2], "message_1")
    gc.collect()  # between messages, as the device does while it waits for the network
    _expect(i.receive(msgs[2][1]), msgs[2][2], "message_3")
    gc.collect()
    _expect(i.receive(msgs[4][1]), None, "message_4 reply")
    return i


def device_responder(v):
    from dtacore.handshake_responder import Responder
    from dtacore.tickets import TicketStore
    spec = v["parties"]["R"]
    msgs = messages(v)
    store = TicketStore(lambda: v["clock"], v["store"]["lifetime"], v["store"]["max_uses"])
    r = Responder(ux(spec["secret"]), ux(spec["pubkey"]), ux(spec["cred_id"]),
                  Stream(ux(spec["rng"])), _lookup(spec, {}), tickets=store)
    _expect(r.receive(msgs[1][1]), msgs[1][2], "message_2")
    _expect(r.receive(msgs[3][1]), msgs[3][2], "message_4")
    return r


def resumed_initiator(v):
    from dtacore import resumption
    spec = v["parties"]["I"]
    msgs = messages(v)
    ri = resumption.ResumeInitiator(resumption.decode_ticket(ux(spec["ticket"])),
                                    Stream(ux(spec["rng"])))
    _expect(ri.start(), msgs[0][2], "resume_1")
    _expect(ri.receive(msgs[2][1]), None, "resume_2 reply")
    return ri


def resumed_responder(v):
    from dtacore import resumption, tickets
    msgs = messages(v)
    store = tickets.TicketStore(lambda: v["clock"], v["store"]["lifetime"],
                                   v["store"]["max_uses"])
    for t in v["store"]["entries"]:
        ticket = resumption.decode_ticket(ux(t))
        store.entries[ticket.ticket_id] = ticket
    rr = tickets.ResumeResponder(store, Stream(ux(v["parties"]["R"]["rng"])))
    _expect(rr.receive(msgs[1][1]), msgs[1][2], "resume_2")
    return rr


def best(f, rounds, n):
    out = 1e9
    for _r in range(rounds):
        gc.collect()
        t = time.ticks_us()
        for _i in range(n):
            f()
        dt = time.ticks_diff(time.ticks_us(), t) / n / 1000
        if dt < out:
            out = dt
    return out


def primitives(v, prepared):
    # The public-key operations of the device's side alone, on the same keys: keygen of the
    # ephemeral, ECDH with the peer's ephemeral, signing, verifying under the prepared D-TA key.
    spec = v["parties"]["I"]
    secret = ux(spec["secret"])
    peer = list(prepared.values())[0]
    eph = ux(spec["rng"])[:32]
    g_y = b"\x02" + ux(v["trace"]["G_Y"])
    digest = ux(v["trace"]["SIG_2_DIGEST"])
    sig = backend.sign(secret, digest, bytes(32))
    pub = backend.pubkey(secret)

    def run():
        backend.pubkey(eph)
        backend.shared_x(eph, g_y)
        backend.sign(secret, digest, bytes(32))
        return backend.verify(peer, digest, sig)
    if not backend.verify(backend.prepare(pub), digest, sig):
        raise ValueError("primitive check failed")
    return run


def embit_composite():
    # The same four operations with embit's pure-Python secp256k1 (bench/_embit_shims: hmac).
    from embit.util import key as K
    curve, g, n = K.SECP256K1, K.SECP256K1_G, K.SECP256K1_ORDER
    d = int.from_bytes(bytes(range(1, 33)), "big")
    k_eph = int.from_bytes(bytes(range(7, 39)), "big")
    z = int.from_bytes(bytes(range(200, 232)), "big")
    peer = curve.affine(curve.mul([(g, k_eph)]))
    pub = K.ECPubKey()
    pub.set(b"\x04" + peer[0].to_bytes(32, "big") + peer[1].to_bytes(32, "big"))
    k = K.deterministic_k(k_eph, z, bytes(32))
    r = curve.affine(curve.mul([(g, k)]))[0] % n
    s = K.modinv(k, n) * (z + k_eph * r) % n
    if s > n // 2:
        s = n - s
    der = _der(r, s)
    digest = z.to_bytes(32, "big")

    def run():
        curve.affine(curve.mul([(g, k_eph)]))
        curve.affine(curve.mul([(peer, d)]))
        kk = K.deterministic_k(d, z, bytes(32))
        rr = curve.affine(curve.mul([(g, kk)]))[0] % n
        K.modinv(kk, n) * (z + d * rr) % n
        return pub.verify_ecdsa(der, digest)
    if not run():
        raise ValueError("embit check failed")
    return run


def _der(r, s):
    # DER SEQUENCE of two INTEGERs (embit's verify_ecdsa takes DER)
    parts = b""
    for x in (r, s):
        b = x.to_bytes(33, "big")
        while len(b) > 1 and b[0] == 0 and b[1] < 0x80:
            b = b[1:]
        parts += b"\x02" + bytes((len(b),)) + b
    return b"\x30" + bytes((len(parts),)) + parts


def prepare_peers(v):
    spec = v["parties"]["I"]
    return dict((ux(p), backend.prepare(ux(p))) for p in spec["peers"].values())


def speed(full, resumed, with_embit):
    prepared = prepare_peers(full)
    for name, f, n in (("full_initiator", lambda: device_initiator(full, prepared, False), 4),
                       ("full_initiator_unload", lambda: device_initiator(full, prepared), 2),
                       ("primitives", primitives(full, prepared), 4),
                       ("full_responder", lambda: device_responder(full), 4),
                       ("resumed_initiator", lambda: resumed_initiator(resumed), 200),
                       ("resumed_responder", lambda: resumed_responder(resumed), 200)):
        print("speed", name, best(f, 5, n))
    if with_embit:
        print("speed embit", best(embit_composite(), 3, 1))


speed(load(sys.argv[2]), load(sys.argv[3]), len(sys.argv) > 4)
