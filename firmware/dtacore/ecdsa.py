# ECDSA over secp256k1 with SHA-256 digests: RFC 6979 nonces (with extra entropy, RFC 6979 3.6),
# low-S compact signatures (r || s, 64 bytes) and strict DER.

import os
from array import array

from dtacore import secp256k1 as ec
from dtacore.errors import DecodeError

N = ec.N
HALF_N = N >> 1
EXTRA_LEN = 32  # extra entropy is 32 bytes, as libsecp256k1's ndata (so both backends agree)
VERIFY_WIDTH = 5  # wNAF width for the public key in verification (8-point table)


def sig_to_der(sig):
    from dtacore.der import sig_to_der as f
    return f(sig)


def sig_from_der(der):
    # Strict: non-canonical DER raises DecodeError.
    from dtacore.der import sig_from_der as f
    return f(der)


def sign(secret, digest, extra=None):
    # RFC 6979 3.2 HMAC-DRBG with SHA-256 (qlen == hlen == 256) picks k; extra, when given, is
    # the 3.6 additional data (32 bytes: fresh RNG output from the caller).
    from dtacore.hmac import hmac_sha256
    if not ec.valid_secret(secret):
        raise ValueError("secret out of range")
    if len(digest) != 32 or (extra is not None and len(extra) != EXTRA_LEN):
        raise ValueError("digest and extra must be 32 bytes")
    d = int.from_bytes(secret, "big")
    z = int.from_bytes(digest, "big")
    seed = bytes(secret) + (z % N).to_bytes(32, "big") + (bytes(extra) if extra else b"")
    v = b"\x01" * 32
    k = hmac_sha256(b"\x00" * 32, v + b"\x00" + seed)
    v = hmac_sha256(k, v)
    k = hmac_sha256(k, v + b"\x01" + seed)
    v = hmac_sha256(k, v)
    while True:
        v = hmac_sha256(k, v)
        c = int.from_bytes(v, "big")
        if 0 < c < N:
            r = ec.mul_g(c)[0] % N
            # 1/k through a random multiple: Euclid's running time depends on its input,
            # which is then k*b for a fresh random b, not the nonce itself
            b = int.from_bytes(os.urandom(32), "big") % N or 1
            s = ec.inv(c * b % N, N) * b % N * (z + r * d) % N
            if r and s:
                if s > HALF_N:
                    s = N - s
                return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        k = hmac_sha256(k, v + b"\x00")
        v = hmac_sha256(k, v)


def prepare(pubkey):
    # A key with its own comb table for repeated verification (dtacore.prepared).
    from dtacore.prepared import PreparedKey
    return PreparedKey(pubkey)


def verify(pubkey, digest, sig, allow_high_s=False):
    # True for a valid 64-byte compact signature; high-S is rejected unless allow_high_s.
    # pubkey: SEC1 bytes, or a dtacore.prepared.PreparedKey (from prepare()).
    if len(sig) != 64 or len(digest) != 32:
        return False
    r = int.from_bytes(sig[:32], "big")
    s = int.from_bytes(sig[32:], "big")
    if not (0 < r < N and 0 < s < N):
        return False
    if s > HALF_N and not allow_high_s:
        return False
    z = int.from_bytes(digest, "big")
    w = ec.inv(s, N)
    comb = getattr(pubkey, "comb", None)
    if comb is not None:
        from dtacore.prepared import mul2_comb
        pt = mul2_comb(z * w % N, r * w % N, comb)
    else:
        try:
            q = ec.decode_point(pubkey)
        except DecodeError:
            return False
        pt = mul2_g(z * w % N, r * w % N, q)
    if pt is None:
        return False
    # x(R) mod N == r without an inversion: X == x*Z^2 for x = r or x = r + N (< P).
    X, _, Z = pt
    zz = Z * Z % ec.P
    if X == r * zz % ec.P:
        return True
    return r + N < ec.P and X == (r + N) * zz % ec.P


def verify_der(pubkey, digest, der, allow_high_s=False):
    # Strict DER parse then verify; non-canonical DER is simply invalid.
    try:
        sig = sig_from_der(der)
    except DecodeError:
        return False
    return verify(pubkey, digest, sig, allow_high_s)


def wnaf(k, w):
    # Width-w NAF of k >= 0, least significant first; digits odd, |d| < 2^(w-1).
    # Works on a small-int window refilled a byte at a time (no bigint ops per bit).
    nb = 17  # a GLV half is below 2^129: 17 bytes, plus the top digit carry
    kb = k.to_bytes(nb, "little")
    out = array("b", bytes(8 * nb + 1))
    o = 0
    full = 1 << w
    half = full >> 1
    mask = full - 1
    acc = 0
    have = 0
    pos = 0
    n = nb
    while True:
        while have <= w and pos < n:
            acc += kb[pos] << have
            have += 8
            pos += 1
        if acc == 0 and pos >= n:
            return out
        if acc & 1:
            d = acc & mask
            if d >= half:
                d -= full
            acc -= d
            out[o] = d
            o += w
            acc >>= w
            have -= w
        else:
            o += 1
            acc >>= 1
            have -= 1


def mul2_g(u1, u2, q):
    # u1*G + u2*q (public scalars, verification): GLV halves of both, interleaved wNAF, one
    # doubling chain of ~128 steps, run on the curve of q's table (G entries mapped there).
    # Jacobian result or None.
    from dtacore import ecmult, gtable
    p1, p2 = ecmult.split(u1 % N)
    q1, q2 = ecmult.split(u2 % N)
    blob = gtable.wnaf_blob()
    tab, ltab, zc = ecmult.odd_multiples(q[0], q[1], 1 << (VERIFY_WIDTH - 2))
    z2 = zc * zc % ec.P
    z3 = z2 * zc % ec.P
    terms = []
    for h, t, xm, ym, w in ((p1, blob, z2, z3, gtable.WNAF_WIDTH),
                            (p2, blob, z2 * ec.BETA % ec.P, z3, gtable.WNAF_WIDTH),
                            (q1, tab, 0, 0, VERIFY_WIDTH), (q2, ltab, 0, 0, VERIFY_WIDTH)):
        terms.append((wnaf(-h if h < 0 else h, w), t, h < 0, xm, ym))
    pt = ecmult.multi(terms)
    if pt is None:
        return None
    return pt[0], pt[1], pt[2] * zc % ec.P
