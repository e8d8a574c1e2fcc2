# Fixed-base multiplication: k*G through the compact GLV comb of dtacore.gtable, and public keys
# from secrets. Kept apart from secp256k1.py (constants and encodings) so that the engine
# (ecmult) and the tables import the curve module, never the other way round.

from dtacore import ecmult, gtable
from dtacore import secp256k1 as ec
from dtacore.errors import EncodeError


def mul_g(k):
    # k*G for 0 < k < N; affine result.
    k1, k2 = ecmult.split(k % ec.N)
    blob = gtable.comb_blob()
    terms = [(gtable.comb_digits(-k1 if k1 < 0 else k1), blob, k1 < 0, 0, 0),
             (gtable.comb_digits(-k2 if k2 < 0 else k2), blob, k2 < 0, ec.BETA, 0)]
    return ec.to_affine(ecmult.multi(terms, ec.blind()))


def pubkey(secret, compressed=True):
    if not ec.valid_secret(secret):
        raise EncodeError("secret out of range")
    return ec.encode_point(mul_g(int.from_bytes(secret, "big")), compressed)
