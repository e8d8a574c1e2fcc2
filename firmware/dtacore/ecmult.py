# secp256k1 scalar multiplication engine: the hot loops, tuned for MicroPython bigints.
#
# Cost model (MicroPython Unix port, measured): every bigint operation allocates; a 256x256
# product costs ~0.5-0.8 us and `% P` of it ~1.1-1.6 us (Knuth division, linear in the
# quotient's length: ~0.5 us for a 264-bit value), a 256-bit add or shift ~0.15-0.3 us, a
# modular inverse by extended Euclid ~15-100 us. Reductions are what to count. Folding instead
# of dividing (2^256 == 2^32 + 977 mod P: t -> (t & M) + (t >> 256) * C, twice) wins ~20% on
# one isolated product but nothing in the doubling loop (eight extra allocations per
# reduction, wider operands): measured and not used. Hence: Jacobian running sums (X/Z^2,
# Y/Z^3); affine table points, so every addition is a mixed one (7M + 4S); tables of a
# variable point built without inversion (odd_multiples); one inversion per result; the GLV
# endomorphism to halve the doublings; digit recodings on small ints only.
# G's tables are compact: tuples of bytes chunks of 8 entries, 64 bytes (x || y) each, read in
# place; a variable point's table is a flat list of ints (built per call, small heap blocks).
# Digit strings (ecverify.wnaf, ecdh.regular, gtable.comb_digits) are array('b'): small,
# preallocated, no list growth.

from dtacore.secp256k1 import BETA, N, P

# Short basis of the GLV lattice {(a, b): a + b*lambda == 0 mod N} (Guide to ECC, 3.5).
_A1 = 0x3086D221A7D46BCDE86C90E49284EB15
_B1 = -0xE4437ED6010E88286F547FA90ABFE4C3
_A2 = 0x114CA50F7A8E2F3F657C1108D9D44CFD8
_HALF_N = N >> 1
HALF_BITS = 130  # |k1|, |k2| from split() stay below 2^129; one bit of margin


def split(k):
    # GLV: k == k1 + k2*lambda (mod N), both halves about 128 bits (signed).
    c1 = (_A1 * k + _HALF_N) // N
    c2 = (-_B1 * k + _HALF_N) // N
    return k - c1 * _A1 - c2 * _A2, -c1 * _B1 - c2 * _A1


def dbl(X, Y, Z):
    # Jacobian doubling for a = 0 (2M + 5S); secp256k1 has no point of order 2.
    p = P
    yy = Y * Y % p
    s = (X * yy << 2) % p
    m = X * X % p * 3
    x3 = (m * m - s - s) % p
    return x3, (m * (s - x3) - (yy * yy << 3)) % p, (Y * Z << 1) % p


def madd(X, Y, Z, x, y):
    # Jacobian (X, Y, Z) + affine (x, y); None for the point at infinity.
    p = P
    zz = Z * Z % p
    h = x * zz % p - X
    r = y * zz % p * Z % p - Y
    if h == 0:
        if r == 0:
            return dbl(X, Y, Z)
        return None
    hh = h * h % p
    hhh = h * hh % p
    v = X * hh % p
    x3 = (r * r - hhh - v - v) % p
    return x3, (r * (v - x3) - Y * hhh) % p, Z * h % p


def odd_multiples(x, y, count, affine=False):
    # Q, 3Q, ..., (2*count-1)Q for affine Q of prime order, with no inversion (libsecp256k1's
    # method): D = 2Q is affine on the curve reached by (x, y) -> (x*DZ^2, y*DZ^3); mixed
    # additions of D there give Jacobian points whose Z differ by the factors h; a backward
    # pass scales all to the last Z. Entry i is then ((2i+1)Q).x * zc^2, ((2i+1)Q).y * zc^3,
    # i.e. Jacobian with Z = zc: affine on an isomorphic curve. The a = 0 formulas never use
    # b, so sums of these entries are computed unchanged; a Jacobian result (X, Y, Z) there
    # is (X, Y, Z*zc) here. With affine, the pass also divides by zc (one inversion): entries
    # affine on the curve itself, zc = 1 (verification: G's entries need no mapping then).
    # Returns (table, lambda_table, zc): flat lists [x0, y0, x1, y1, ...] of ints, the lambda
    # one (for lambda*Q) with beta*x, sharing the y objects. Ints, not bytes: no conversions
    # when read, and only small heap blocks (a 32 KiB heap rarely has a free 512-byte run late
    # in a handshake); p - (p - v) stores v as a right-sized copy (a remainder keeps the
    # dividend's 17 digits: 99 bytes of heap instead of 67 on the Unix port).
    p = P
    dx, dy, dz = dbl(x, y, 1)
    zz = dz * dz % p
    X = x * zz % p
    Y = y * zz % p * dz % p
    Z = 1
    n = 2 * count
    tab = [0] * n
    ltab = [0] * n  # holds the factors h until the backward pass
    tab[0] = p - (p - X)
    tab[1] = p - (p - Y)
    for i in range(2, n, 2):
        zz = Z * Z % p
        h = dx * zz % p - X
        r = dy * zz % p * Z % p - Y
        hh = h * h % p
        hhh = h * hh % p
        v = X * hh % p
        X = (r * r - hhh - v - v) % p
        Y = (r * (v - X) - Y * hhh) % p
        Z = Z * h % p
        tab[i] = p - (p - X)
        tab[i + 1] = p - (p - Y)
        ltab[i] = p - (p - h)
    zc = Z * dz % p
    ratio = 1
    if affine:
        from dtacore.secp256k1 import inv
        ratio = inv(zc, p)
        zc = 1
    for i in range(n - 2, -1, -2):
        if i < n - 2:
            ratio = ratio * ltab[i + 2] % p
            ltab[i + 2] = p - (p - tab[i + 2] * BETA % p)  # entry i/2 + 1 is final
        if ratio != 1:
            rr = ratio * ratio % p
            tab[i] = p - (p - tab[i] * rr % p)
            tab[i + 1] = p - (p - tab[i + 1] * rr % p * ratio % p)
    ltab[0] = p - (p - tab[0] * BETA % p)
    for i in range(1, n, 2):
        ltab[i] = tab[i]
    return tab, ltab, zc


def multi(terms, blind=1):
    # Sum of digits_i * Q_i by interleaved recodings with one shared doubling chain (Shamir's
    # trick). terms: (digits, table, neg, xm, ym), digit strings all of one length; digit d
    # adds (+/-) table entry |d| >> 1, negated again when neg. Tables: G's are tuples of chunks
    # of 8 64-byte x||y entries (compact, read in place); a variable point's is a flat list of
    # ints (odd_multiples). xm, ym (or 0) multiply the entry's x and
    # y: beta for lambda*Q, zc^2 and zc^3 to move a point onto the curve of a table from
    # odd_multiples. blind: Z of the first point (projective randomisation).
    # Returns Jacobian or None.
    p = P
    X = Y = Z = 0
    inf = True
    for i in range(len(terms[0][0]) - 1, -1, -1):
        if not inf:
            yy = Y * Y % p
            s = X * yy << 2  # left unreduced: one longer % below instead of two
            m = X * X % p * 3
            X = (m * m - s - s) % p
            Z = (Y * Z << 1) % p
            Y = (m * (s - X) - (yy * yy << 3)) % p
        for t in terms:
            d = t[0][i]
            if not d:
                continue
            neg = t[2]
            if d < 0:
                d = -d
                neg = not neg
            tb = t[1]
            if type(tb) is list:  # flat ints from odd_multiples: entry d >> 1 at d - 1, d
                x = tb[d - 1]
                y = tb[d]
            else:
                c = tb[d >> 4]
                j = ((d >> 1) & 7) << 6
                x = int.from_bytes(c[j:j + 32], "big")
                y = int.from_bytes(c[j + 32:j + 64], "big")
            if neg:
                y = p - y
            if t[3]:
                x = x * t[3] % p
            if t[4]:
                y = y * t[4] % p
            if inf:
                zz = blind * blind % p
                X = x * zz % p
                Y = y * zz % p * blind % p
                Z = blind
                inf = False
                continue
            zz = Z * Z % p
            h = x * zz % p - X
            r = y * zz % p * Z % p - Y
            if h == 0:
                if r == 0:
                    X, Y, Z = dbl(X, Y, Z)
                else:
                    inf = True
                continue
            hh = h * h % p
            hhh = h * hh  # hhh and v unreduced: two longer reductions below instead of four
            v = X * hh
            X = (r * r - hhh - v - v) % p
            Y = (r * (v - X) - Y * hhh) % p
            Z = Z * h % p
    if inf:
        return None
    return X, Y, Z


def point_sum(points):
    # Sum of affine points (a list of (x, y)), by mixed additions on a Jacobian running sum:
    # combining public shares. None for the point at infinity (the shares cancelled out).
    pt = None
    for x, y in points:
        if pt is None:
            pt = (x, y, 1)
        else:
            pt = madd(pt[0], pt[1], pt[2], x, y)
    return pt
