# Fixed-base tables for G, kept compact: 64 bytes (x || y) per affine point, in chunks of
# CHUNK points (small allocations: a 32 KiB heap rarely has a free 4 KiB block).
#   comb: GLV comb, TEETH teeth SPACING bits apart, entry j-1 = sum of 2^(SPACING*i)*G over the
#         bits i of j. k*G = k1*G + k2*lambda*G costs SPACING-1 doublings and 2*SPACING mixed
#         additions (the lambda half reads the same table through x -> beta*x).
#   wnaf: odd multiples G, 3G, ..., for the interleaved verification loop (width WNAF_WIDTH).
# Two ways to get them, measured by bench/crypto.py: the chunks generated once into
# dtacore/gtable_comb.py and gtable_wnaf.py (bytes constants: in flash when frozen into an
# ESP32 image, no derivation at boot; one module each so a verifier never loads the comb) or
# derived at first use by dtacore.gtable_gen (no flash; tens of ms).

from array import array

TEETH = 6
SPACING = 22  # TEETH * SPACING >= ecmult.HALF_BITS
WNAF_WIDTH = 7
WNAF_POINTS = 1 << (WNAF_WIDTH - 2)
CHUNK = 8  # points per bytes object

_comb = None
_wnaf = None


def comb_blob():
    global _comb
    if _comb is None:
        from dtacore.gtable_comb import COMB
        _comb = COMB
    return _comb


def wnaf_blob():
    global _wnaf
    if _wnaf is None:
        from dtacore.gtable_wnaf import WNAF
        _wnaf = WNAF
    return _wnaf


def use(comb, wnaf):
    # Install tables made elsewhere (dtacore.gtable_gen.use_derived).
    global _comb, _wnaf
    _comb = comb
    _wnaf = wnaf


def comb_digits(a):
    # Column digits (least significant column first) for 0 <= a < 2^(TEETH*SPACING): column c
    # takes bit c of each row; index idx becomes the odd digit 2*idx - 1 (entry idx - 1).
    mask = (1 << SPACING) - 1
    rows = []
    for i in range(TEETH):
        rows.append((a >> (i * SPACING)) & mask)
    out = array("b", bytes(SPACING))
    for c in range(SPACING):
        idx = 0
        for i in range(TEETH):
            idx |= ((rows[i] >> c) & 1) << i
        if idx:
            out[c] = 2 * idx - 1
    return out
