# ECDH over secp256k1: the x coordinate of secret*peer (SEC1 3.3.1), peer point validated.

from dtacore import secp256k1 as ec


def shared_x(secret, peer_pubkey):
    # Raises ValueError for a bad secret and DecodeError for a peer key that is not a point.
    if not ec.valid_secret(secret):
        raise ValueError("secret out of range")
    q = ec.decode_point(peer_pubkey)
    pt = ec.mul(int.from_bytes(secret, "big"), q)
    return pt[0].to_bytes(32, "big")
