# secp256k1 field and group arithmetic tuned for MicroPython bigints (runs on CPython too).
#
# Cost model (MicroPython Unix port): every bigint operation allocates and a `% P` on a 512-bit
# product is the dominant cost, while one modular inverse by the binary-free extended Euclid
# below costs about ten multiplications. So: Jacobian coordinates (X/Z^2, Y/Z^3) for the running
# sum, affine table points (mixed additions, fewer reductions), one inversion per result, and
# small-int digit recoding so the loops touch bigints only for field arithmetic.
# Points: affine (x, y) tuples; Jacobian (X, Y, Z) tuples; None is the point at infinity.

from dtacore.errors import DecodeError

P = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
GX = 0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798
GY = 0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8
G = (GX, GY)
B = 7
# GLV endomorphism: lambda*(x, y) == (beta*x, y); beta^3 == 1 mod P, lambda^3 == 1 mod N.
BETA = 0x7AE96A2B657C07106E64479EAC3434E99CF0497512F58995C1396C28719501EE
LAMBDA = 0x5363AD4CC05C30E0A5261C028812645A122E22EA20816678DF02967C1B23BD72
# Short basis of the GLV lattice {(a, b): a + b*lambda == 0 mod N} (Guide to ECC, 3.5).
_A1 = 0x3086D221A7D46BCDE86C90E49284EB15
_B1 = -0xE4437ED6010E88286F547FA90ABFE4C3
_A2 = 0x114CA50F7A8E2F3F657C1108D9D44CFD8
_B2 = _A1
_HALF_N = N >> 1


def inv(a, m):
    # Modular inverse by the extended Euclidean algorithm (a != 0 mod m, m prime).
    a = a % m
    if a == 0:
        raise ValueError("no inverse")
    x0 = 1
    x1 = 0
    b = m
    while b:
        q = a // b
        a, b = b, a - q * b
        x0, x1 = x1, x0 - q * x1
    return x0 % m


def sqrt(a):
    # Square root mod P (P == 3 mod 4), or None when a is not a square.
    r = pow(a, (P + 1) >> 2, P)
    if r * r % P != a % P:
        return None
    return r


def on_curve(x, y):
    return 0 <= x < P and 0 <= y < P and (y * y - x * x * x - B) % P == 0


def valid_secret(secret):
    if not isinstance(secret, (bytes, bytearray)) or len(secret) != 32:
        return False
    k = int.from_bytes(secret, "big")
    return 0 < k < N


def decode_point(b):
    # Strict SEC1 decoding: 33-byte compressed or 65-byte uncompressed, on the curve.
    n = len(b)
    if n == 33 and b[0] in (2, 3):
        x = int.from_bytes(b[1:], "big")
        if x >= P:
            raise DecodeError("point x out of range")
        y = sqrt((x * x * x + B) % P)
        if y is None:
            raise DecodeError("point not on curve")
        if (y & 1) != (b[0] & 1):
            y = P - y
        return (x, y)
    if n == 65 and b[0] == 4:
        x = int.from_bytes(b[1:33], "big")
        y = int.from_bytes(b[33:], "big")
        if not on_curve(x, y):
            raise DecodeError("point not on curve")
        return (x, y)
    raise DecodeError("bad point encoding")


def encode_point(pt, compressed=True):
    if pt is None:
        raise ValueError("point at infinity")
    x, y = pt
    if compressed:
        return bytes((2 | (y & 1),)) + x.to_bytes(32, "big")
    return b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big")


def dbl(pt):
    # Jacobian doubling for a = 0: 3M + 4S; secp256k1 has no point of order 2.
    if pt is None:
        return None
    X, Y, Z = pt
    p = P
    yy = Y * Y % p
    s = 4 * X * yy % p
    m = 3 * X * X % p
    x3 = (m * m - 2 * s) % p
    return (x3, (m * (s - x3) - 8 * yy * yy) % p, 2 * Y * Z % p)


def madd(pt, q):
    # Mixed addition: Jacobian pt plus affine q; 8M + 3S.
    if pt is None:
        return (q[0], q[1], 1)
    X, Y, Z = pt
    p = P
    zz = Z * Z % p
    h = q[0] * zz % p - X
    r = q[1] * zz % p * Z % p - Y
    if h == 0:
        if r == 0:
            return dbl(pt)
        return None
    hh = h * h % p
    hhh = h * hh % p
    v = X * hh % p
    x3 = (r * r - hhh - 2 * v) % p
    return (x3, (r * (v - x3) - Y * hhh) % p, Z * h % p)


def to_affine(pt):
    if pt is None:
        return None
    X, Y, Z = pt
    zi = inv(Z, P)
    zz = zi * zi % P
    return (X * zz % P, Y * zz % P * zi % P)


def batch_affine(pts):
    # Montgomery's trick: n Jacobian points (none at infinity) to affine with one inversion.
    p = P
    n = len(pts)
    acc = [1] * n
    a = 1
    for i in range(n):
        acc[i] = a
        a = a * pts[i][2] % p
    a = inv(a, p)
    out = [None] * n
    for i in range(n - 1, -1, -1):
        X, Y, Z = pts[i]
        zi = a * acc[i] % p
        a = a * Z % p
        zz = zi * zi % p
        out[i] = (X * zz % p, Y * zz % p * zi % p)
    return out


def split(k):
    # GLV: k == k1 + k2*lambda (mod N) with |k1|, |k2| < 2^129; rounded division by N.
    c1 = (_B2 * k + _HALF_N) // N
    c2 = (-_B1 * k + _HALF_N) // N
    k1 = k - c1 * _A1 - c2 * _A2
    k2 = -c1 * _B1 - c2 * _B2
    return k1, k2


def wnaf(k, w):
    # Width-w NAF of k >= 0, least significant digit first; digits odd, |d| < 2^(w-1).
    out = []
    full = 1 << w
    half = full >> 1
    mask = full - 1
    while k:
        if k & 1:
            d = k & mask
            if d >= half:
                d -= full
            k -= d
        else:
            d = 0
        out.append(d)
        k >>= 1
    return out


def odd_multiples(q, count):
    # Affine q, 3q, 5q, ... (count points), by Jacobian adds and one batch inversion.
    q2 = to_affine(dbl((q[0], q[1], 1)))
    pts = [(q[0], q[1], 1)]
    for i in range(1, count):
        pts.append(madd(pts[i - 1], q2))
    return batch_affine(pts)


def multi_mul(terms):
    # Sum of k_i * Q_i by interleaved wNAF (shared doublings, Shamir's trick).
    # terms: list of (k, table, beta_map) where k is a signed int, table holds the affine odd
    # multiples of Q and beta_map says to use the endomorphism image (beta*x, y) of the table.
    p = P
    nafs = []
    top = 0
    for k, table, endo in terms:
        neg = k < 0
        digits = wnaf(-k if neg else k, _width(len(table)))
        nafs.append((digits, table, endo, neg))
        if len(digits) > top:
            top = len(digits)
    acc = None
    for i in range(top - 1, -1, -1):
        acc = dbl(acc)
        for digits, table, endo, neg in nafs:
            if i < len(digits):
                d = digits[i]
                if d:
                    x, y = table[(d if d > 0 else -d) >> 1]
                    if endo:
                        x = x * BETA % p
                    if (d < 0) != neg:
                        y = p - y
                    acc = madd(acc, (x, y))
    return acc


def _width(n):
    w = 2
    while (1 << (w - 2)) < n:
        w += 1
    return w


def mul(k, q):
    # k*q for affine q (validated by the caller) and 0 <= k < N; returns affine or None.
    k = k % N
    if k == 0:
        return None
    table = odd_multiples(q, 8)
    k1, k2 = split(k)
    return to_affine(multi_mul([(k1, table, False), (k2, table, True)]))


def mul_g(k):
    # k*G (fixed base) through the precomputed comb in dtacore.gtable.
    from dtacore import gtable
    return to_affine(gtable.comb(k % N))


def mul2_g(u1, u2, q):
    # u1*G + u2*q for signature verification: four ~128-bit halves, one doubling chain.
    from dtacore import gtable
    u1 = u1 % N
    u2 = u2 % N
    gt = gtable.wnaf_table()
    qt = odd_multiples(q, 8)
    a1, a2 = split(u1)
    b1, b2 = split(u2)
    return to_affine(multi_mul([(a1, gt, False), (a2, gt, True), (b1, qt, False), (b2, qt, True)]))


def pubkey(secret, compressed=True):
    if not valid_secret(secret):
        raise ValueError("secret out of range")
    return encode_point(mul_g(int.from_bytes(secret, "big")), compressed)
