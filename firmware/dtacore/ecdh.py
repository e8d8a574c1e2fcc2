# ECDH over secp256k1: the x coordinate of secret*peer (SEC1 3.3.1), peer point validated.
# A compressed peer key is not decompressed: with g = x^3 + 7 a square (checked by a Jacobi
# symbol, ~30x cheaper than the square root), (g*x, g^2) is a point of y^2 = x^3 + 7*g^3, the
# image of (x, sqrt(g)) under the isomorphism (x, y) -> (u^2 x, u^3 y), u = sqrt(g). The a = 0
# formulas never use b, so the same multiplication runs there and x(k*Q) = X / (Z^2 * g).

from array import array

from dtacore import secp256k1 as ec
from dtacore.errors import DecodeError, EncodeError

ECDH_WIDTH = 5  # fixed windows of 5 bits for the secret scalar (16-point table)
ECDH_WINDOWS = 26  # 26 * 5 bits cover a GLV half (< 2^129) with an odd top digit < 2^5


def shared_x(secret, peer_pubkey):
    # Raises EncodeError for a bad secret and DecodeError for a peer key that is not a point.
    if not ec.valid_secret(secret):
        raise EncodeError("secret out of range")
    k = int.from_bytes(secret, "big")
    p = ec.P
    if len(peer_pubkey) == 33 and (peer_pubkey[0] == 2 or peer_pubkey[0] == 3):
        x = int.from_bytes(peer_pubkey[1:], "big")
        if x >= p:
            raise DecodeError("point x out of range")
        g = (x * x * x + ec.B) % p
        if not is_square(g):
            raise DecodeError("point not on curve")
        X, _, Z = mul_jacobian(k, x * g % p, g * g % p)
    else:
        x, y = ec.decode_point(peer_pubkey)
        g = 1
        X, _, Z = mul_jacobian(k, x, y)
    return (X * ec.inv(Z * Z % p * g, p) % p).to_bytes(32, "big")


def is_square(a):
    # Jacobi symbol (a/P) == 1 by the binary reciprocity algorithm: Euclid-like, no exponent.
    a = a % ec.P
    n = ec.P
    t = 1
    while a:
        while not a & 3:
            a >>= 2
        if not a & 1:
            a >>= 1
            if n & 7 == 3 or n & 7 == 5:
                t = -t
        if a & 3 == 3 and n & 3 == 3:
            t = -t
        a, n = n % a, a
    return n == 1 and t == 1


def regular(k, w, count):
    # Fixed-window signed recoding of odd k > 0 (Joye-Tunstall): count odd digits in
    # [-(2^w-1), 2^w-1], one every w bits, so the add/double sequence does not depend on k.
    out = array("b", bytes((count - 1) * w + 1))
    m = (2 << w) - 1
    t = 1 << w
    for i in range(count - 1):
        d = (k & m) - t
        k = (k - d) >> w
        out[i * w] = d
    out[(count - 1) * w] = k
    return out


def mul_jacobian(k, x, y):
    # k*(x, y) for a secret 0 < k < N with a fixed add/double sequence (regular recoding on
    # both GLV halves): each half is made odd by adding c = 1 or 2, and c*Q is taken off at
    # the end by two additions either way (the second is a dummy when c == 1). (x, y) must
    # have order N on y^2 = x^3 + b for any b: the formulas never use b (see ecdh.py).
    from dtacore import ecmult
    k1, k2 = ecmult.split(k % ec.N)
    tab, ltab, zc = ecmult.odd_multiples(x, y, 1 << (ECDH_WIDTH - 1))
    terms = []
    cs = []
    for half, t in ((k1, tab), (k2, ltab)):
        a = -half if half < 0 else half
        cs.append(1 + (a & 1))
        terms.append((regular(a + cs[-1], ECDH_WIDTH, ECDH_WINDOWS), t, half < 0, 0, 0))
    pt = ecmult.multi(terms, ec.blind())
    for j in range(2):
        qx = terms[j][1][0]
        qy = terms[j][1][1]
        if not terms[j][2]:
            qy = ec.P - qy
        for i in range(2):
            if pt is None:
                q = (qx, qy, 1)
            else:
                q = ecmult.madd(pt[0], pt[1], pt[2], qx, qy)
            if i < cs[j]:
                pt = q
    return pt[0], pt[1], pt[2] * zc % ec.P
