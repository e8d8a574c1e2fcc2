# ECDSA verification internals (dtacore.ecdsa.verify loads them; signing never does):
# u1*G + u2*Q by interleaved wNAF over the four GLV halves, one doubling chain of ~128 steps.

from array import array

from dtacore import secp256k1 as ec

N = ec.N
VERIFY_WIDTH = 5  # wNAF width for the public key in verification (8-point table)


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
    # doubling chain of ~128 steps; q's table made affine (one inversion) so that G's entries
    # are used as they are. Jacobian result or None.
    from dtacore import ecmult, gtable
    p1, p2 = ecmult.split(u1 % N)
    q1, q2 = ecmult.split(u2 % N)
    blob = gtable.wnaf_blob()
    tab, ltab, _ = ecmult.odd_multiples(q[0], q[1], 1 << (VERIFY_WIDTH - 2), True)
    terms = []
    for h, t, xm, w in ((q1, tab, 0, VERIFY_WIDTH), (q2, ltab, 0, VERIFY_WIDTH),
                        (p1, blob, 0, gtable.WNAF_WIDTH), (p2, blob, ec.BETA, gtable.WNAF_WIDTH)):
        terms.append((wnaf(-h if h < 0 else h, w), t, h < 0, xm, 0))
    return ecmult.multi(terms)
