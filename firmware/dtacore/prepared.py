# Prepared public keys: a key with its own comb table (31 points, 2 KiB as bytes, ~4 ms to
# build on the VM), for a key that is verified again and again (the D-TA identity key).
# Verification then runs one comb loop over both scalars: ~26 doublings instead of ~128.

from dtacore import secp256k1 as ec


class PreparedKey:
    def __init__(self, pubkey):
        from dtacore.gtable_gen import comb_for
        self.pubkey = bytes(pubkey)
        x, y = ec.decode_point(self.pubkey)  # DecodeError for a bad key
        self.comb = comb_for(x, y)


def mul2_comb(u1, u2, qcomb):
    # u1*G + u2*Q with comb tables for both: four GLV halves, one comb loop (Jacobian or None).
    from dtacore import ecmult, gtable
    terms = []
    for u, table in ((u1, gtable.comb_blob()), (u2, qcomb)):
        a, b = ecmult.split(u)
        terms.append((gtable.comb_digits(-a if a < 0 else a), table, a < 0, 0, 0))
        terms.append((gtable.comb_digits(-b if b < 0 else b), table, b < 0, ec.BETA, 0))
    return ecmult.multi(terms)
