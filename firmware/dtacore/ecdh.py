# ECDH over secp256k1: the x coordinate of secret*peer (SEC1 3.3.1), peer point validated.
# A compressed peer key is not decompressed: with g = x^3 + 7 a square (checked by a Jacobi
# symbol, ~30x cheaper than the square root), (g*x, g^2) is a point of y^2 = x^3 + 7*g^3, the
# image of (x, sqrt(g)) under the isomorphism (x, y) -> (u^2 x, u^3 y), u = sqrt(g). The a = 0
# formulas never use b, so the same multiplication runs there and x(k*Q) = X / (Z^2 * g).

from dtacore import secp256k1 as ec
from dtacore.errors import DecodeError


def shared_x(secret, peer_pubkey):
    # Raises ValueError for a bad secret and DecodeError for a peer key that is not a point.
    if not ec.valid_secret(secret):
        raise ValueError("secret out of range")
    k = int.from_bytes(secret, "big")
    p = ec.P
    if len(peer_pubkey) == 33 and (peer_pubkey[0] == 2 or peer_pubkey[0] == 3):
        x = int.from_bytes(peer_pubkey[1:], "big")
        if x >= p:
            raise DecodeError("point x out of range")
        g = (x * x * x + ec.B) % p
        if not ec.is_square(g):
            raise DecodeError("point not on curve")
        X, _, Z = ec.mul_jacobian(k, x * g % p, g * g % p)
    else:
        x, y = ec.decode_point(peer_pubkey)
        g = 1
        X, _, Z = ec.mul_jacobian(k, x, y)
    return (X * ec.inv(Z * Z % p * g, p) % p).to_bytes(32, "big")
