# Fixed-base tables for G, derived once at first use and kept for the life of the process.
# comb: Lim-Lee comb with TEETH teeth SPACING apart: k*G costs SPACING doublings and at most
# SPACING mixed additions (an addition per column, table index from one bit of each row).
# wnaf: affine odd multiples G, 3G, 5G, ... for the interleaved verification loop.

from dtacore import secp256k1 as ec

TEETH = 6
SPACING = 43  # TEETH * SPACING >= 256
WNAF_POINTS = 32  # odd multiples up to 63*G: width-7 NAF

_comb = None
_wnaf = None


def comb_table():
    global _comb
    if _comb is None:
        bases = [ec.G]
        for i in range(1, TEETH):
            pt = (bases[i - 1][0], bases[i - 1][1], 1)
            for j in range(SPACING):
                pt = ec.dbl(pt)
            bases.append(ec.to_affine(pt))
        jac = []
        for j in range(1, 1 << TEETH):
            i = 0
            while not (j >> i) & 1:
                i += 1
            rest = j ^ (1 << i)
            if rest:
                jac.append(ec.madd(jac[rest - 1], bases[i]))
            else:
                jac.append((bases[i][0], bases[i][1], 1))
        _comb = ec.batch_affine(jac)
    return _comb


def wnaf_table():
    global _wnaf
    if _wnaf is None:
        _wnaf = ec.odd_multiples(ec.G, WNAF_POINTS)
    return _wnaf


def comb(k):
    # Jacobian k*G for 0 <= k < 2^(TEETH*SPACING).
    table = comb_table()
    mask = (1 << SPACING) - 1
    rows = []
    for i in range(TEETH):
        rows.append((k >> (i * SPACING)) & mask)
    acc = None
    for col in range(SPACING - 1, -1, -1):
        acc = ec.dbl(acc)
        idx = 0
        for i in range(TEETH):
            idx |= ((rows[i] >> col) & 1) << i
        if idx:
            acc = ec.madd(acc, table[idx - 1])
    return acc
