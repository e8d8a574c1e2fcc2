# MicroPython side of bench/crypto.py (run by it on the VM; not a benchmark module itself).
#   micropython _crypto_vm.py speed IMPL       ms/op for IMPL: dtacore, embit or naive
import gc
import sys
import time

from dtacore import ecdh, ecdsa, fixedbase, secp256k1

SECRET = bytes(range(1, 33))
PEER = bytes(range(7, 39))
EXTRA = bytes(range(100, 132))
DIGEST = bytes(range(200, 232))


def best(f, rounds, n):
    # Minimum over rounds of the mean of n calls, in ms (min filters other load on the host).
    out = 1e9
    for _round in range(rounds):
        gc.collect()
        t = time.ticks_us()
        for _call in range(n):
            f()
        dt = time.ticks_diff(time.ticks_us(), t) / n / 1000
        if dt < out:
            out = dt
    return out


# --- dtacore ---------------------------------------------------------------------------------
PUB = fixedbase.pubkey(SECRET)
PUB65 = fixedbase.pubkey(SECRET, False)
PEER_PUB = fixedbase.pubkey(PEER)
SIG = ecdsa.sign(SECRET, DIGEST, EXTRA)


def ours_keygen():
    return fixedbase.pubkey(PEER)


def ours_sign():
    return ecdsa.sign(SECRET, DIGEST, EXTRA)


def ours_verify():
    return ecdsa.verify(PUB65, DIGEST, SIG)


def ours_verify33():
    return ecdsa.verify(PUB, DIGEST, SIG)


PREPARED = ecdsa.prepare(PUB)


def ours_verify_prepared():
    return ecdsa.verify(PREPARED, DIGEST, SIG)


def ours_ecdh():
    return ecdh.shared_x(SECRET, PEER_PUB)


def ours_handshake():
    # ephemeral key pair, ECDH with the peer's ephemeral key, sign the transcript, verify the
    # peer's signature under its (compressed) identity key
    fixedbase.pubkey(PEER)
    ecdh.shared_x(PEER, PUB)
    ecdsa.sign(SECRET, DIGEST, EXTRA)
    return ecdsa.verify(PUB, DIGEST, SIG)


def ours_handshake_prepared():
    # the same with the D-TA identity key prepared once (as a device keeps it)
    fixedbase.pubkey(PEER)
    ecdh.shared_x(PEER, PUB)
    ecdsa.sign(SECRET, DIGEST, EXTRA)
    return ecdsa.verify(PREPARED, DIGEST, SIG)


# --- naive reference: left-to-right double-and-add, same field formulas, no tables ----------
def naive_mul(k, x, y):
    from dtacore import ecmult
    pt = None
    for i in range(255, -1, -1):
        if pt is not None:
            pt = ecmult.dbl(pt[0], pt[1], pt[2])
        if (k >> i) & 1:
            pt = (x, y, 1) if pt is None else ecmult.madd(pt[0], pt[1], pt[2], x, y)
    return secp256k1.to_affine(pt)


def naive_keygen():
    return secp256k1.encode_point(
        naive_mul(int.from_bytes(PEER, "big"), secp256k1.GX, secp256k1.GY))


def naive_sign():
    n = secp256k1.N
    k = int.from_bytes(EXTRA, "big")
    r = naive_mul(k, secp256k1.GX, secp256k1.GY)[0] % n
    return (secp256k1.inv(k, n)
            * (int.from_bytes(DIGEST, "big") + r * int.from_bytes(SECRET, "big")) % n)


def naive_verify():
    from dtacore import ecmult
    n = secp256k1.N
    q = secp256k1.decode_point(PUB65)
    r = int.from_bytes(SIG[:32], "big")
    w = secp256k1.inv(int.from_bytes(SIG[32:], "big"), n)
    a = naive_mul(int.from_bytes(DIGEST, "big") * w % n, secp256k1.GX, secp256k1.GY)
    b = naive_mul(r * w % n, q[0], q[1])
    return secp256k1.to_affine(ecmult.madd(a[0], a[1], 1, b[0], b[1]))[0] % n == r


def naive_ecdh():
    q = secp256k1.decode_point(PEER_PUB)
    return naive_mul(int.from_bytes(SECRET, "big"), q[0], q[1])[0]


def naive_handshake():
    naive_keygen()
    naive_ecdh()
    naive_sign()
    return naive_verify()


# --- embit (PyPI, pure-Python secp256k1 in embit.util.key; hmac shim from bench/_embit_shims)
def embit_ops():
    from embit.util import key as K
    C = K.SECP256K1
    G = K.SECP256K1_G
    n = K.SECP256K1_ORDER
    d = int.from_bytes(SECRET, "big")
    pub = K.ECPubKey()
    pub.set(PUB65)
    peer = K.ECPubKey()
    peer.set(fixedbase.pubkey(PEER, False))
    der = ecdsa.sig_to_der(SIG)

    def keygen():
        return C.affine(C.mul([(G, int.from_bytes(PEER, "big"))]))

    def sign():
        # ECKey.sign_ecdsa without its DER step (int.bit_length is missing on MicroPython)
        z = int.from_bytes(DIGEST, "big")
        k = K.deterministic_k(d, z, EXTRA)
        r = C.affine(C.mul([(G, k)]))[0] % n
        return r, K.modinv(k, n) * (z + d * r) % n

    def verify():
        return pub.verify_ecdsa(der, DIGEST)

    def ecdh_():
        return C.affine(C.mul([(peer.p, d)]))[0]

    def handshake():
        keygen()
        ecdh_()
        sign()
        return verify()

    return keygen, sign, verify, ecdh_, handshake


def speed(impl):
    # One implementation per VM process (bench/crypto.py alternates the processes, so host
    # load hits all three alike and no run pays for another's garbage): "op ms" lines.
    if impl == "embit":
        ops = embit_ops()
    elif impl == "naive":
        ops = (naive_keygen, naive_sign, naive_verify, naive_ecdh, naive_handshake)
    else:
        ops = (ours_keygen, ours_sign, ours_verify, ours_ecdh, ours_handshake)
    assert ops[2]()
    for name, f in zip(("keygen", "sign", "verify", "ecdh", "handshake"), ops):
        print("speed", name, best(f, 3, 4 if impl == "dtacore" else 1))
    if impl == "dtacore":
        assert ours_verify33() and ours_verify_prepared()
        for name, f in (("verify33", ours_verify33), ("verify_prepared", ours_verify_prepared),
                        ("handshake_prepared", ours_handshake_prepared)):
            print("speed", name, best(f, 3, 4))
        t = time.ticks_us()
        ecdsa.prepare(PEER_PUB)
        print("speed prepare", time.ticks_diff(time.ticks_us(), t) / 1000)


speed(sys.argv[2])
