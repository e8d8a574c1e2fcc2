# secp256k1 for MicroPython and CPython: constants, field helpers, strict point encoding and
# the affine/Jacobian conversions. The scalar multiplications live in dtacore.ecmult (the loops),
# dtacore.fixedbase (k*G, public keys), ecverify and ecdh; none of them is imported from here.
# Points are affine (x, y) tuples; the point at infinity is never a valid public key here.

import os

from dtacore.errors import DecodeError, EncodeError

P = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
GX = 0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798
GY = 0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8
G = (GX, GY)
B = 7
# GLV endomorphism: lambda*(x, y) == (beta*x, y); beta^3 == 1 mod P, lambda^3 == 1 mod N.
BETA = 0x7AE96A2B657C07106E64479EAC3434E99CF0497512F58995C1396C28719501EE
LAMBDA = 0x5363AD4CC05C30E0A5261C028812645A122E22EA20816678DF02967C1B23BD72


def inv(a, m):
    # Modular inverse by the extended Euclidean algorithm (m prime, a != 0 mod m).
    a = a % m
    if a == 0:
        raise EncodeError("no inverse of 0")
    x0 = 1
    x1 = 0
    b = m
    while b:
        q = a // b
        a, b = b, a - q * b
        x0, x1 = x1, x0 - q * x1
    return x0 % m


def _sq(x, n):
    p = P
    for _ in range(n):
        x = x * x % p
    return x


def sqrt(a):
    # a^((P+1)/4) by libsecp256k1's addition chain (253 squarings, 13 multiplications; 3-arg
    # pow is several times slower on MicroPython). None when a is not a square.
    p = P
    a = a % p
    x2 = a * a % p * a % p
    x3 = x2 * x2 % p * a % p
    x6 = _sq(x3, 3) * x3 % p
    x11 = _sq(_sq(x6, 3) * x3 % p, 2) * x2 % p
    x22 = _sq(x11, 11) * x11 % p
    x44 = _sq(x22, 22) * x22 % p
    x88 = _sq(x44, 44) * x44 % p
    x220 = _sq(_sq(x88, 88) * x88 % p, 44) * x44 % p
    t = _sq(_sq(x220, 3) * x3 % p, 23) * x22 % p
    r = _sq(_sq(t, 6) * x2 % p, 2)
    if r * r % p != a:
        return None
    return r


def on_curve(x, y):
    return 0 <= x < P and 0 <= y < P and (y * y - x * x * x - B) % P == 0


def valid_secret(secret):
    if not isinstance(secret, (bytes, bytearray)) or len(secret) != 32:
        return False
    return 0 < int.from_bytes(secret, "big") < N


def decode_point(b):
    # Strict SEC1: 33-byte compressed (02/03) or 65-byte uncompressed (04), on the curve.
    n = len(b)
    if n == 33 and (b[0] == 2 or b[0] == 3):
        x = int.from_bytes(b[1:], "big")
        if x >= P:
            raise DecodeError("point x out of range")
        y = sqrt(x * x * x + B)
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
        raise EncodeError("point at infinity")
    x, y = pt
    if compressed:
        return bytes((2 | (y & 1),)) + x.to_bytes(32, "big")
    return b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big")


def to_affine(pt):
    if pt is None:
        return None
    X, Y, Z = pt
    zi = inv(Z, P)
    zz = zi * zi % P
    return (X * zz % P, Y * zz % P * zi % P)


def blind():
    # A random non-zero Z for projective randomisation (not a secret; any RNG quality will do).
    z = int.from_bytes(os.urandom(32), "big") % P
    return z if z else 1
