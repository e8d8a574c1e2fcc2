# ECDSA over secp256k1 with SHA-256 digests: RFC 6979 nonces (with extra entropy, RFC 6979 3.6),
# low-S compact signatures (r || s, 64 bytes) and strict DER.

import os

from dtacore import secp256k1 as ec
from dtacore.errors import DecodeError, EncodeError

N = ec.N
HALF_N = N >> 1
EXTRA_LEN = 32  # extra entropy is 32 bytes, as libsecp256k1's ndata (so both backends agree)


def sig_to_der(sig):
    from dtacore.der import sig_to_der as f
    return f(sig)


def sig_from_der(der):
    # Strict: non-canonical DER raises DecodeError.
    from dtacore.der import sig_from_der as f
    return f(der)


def sign(secret, digest, extra=None):
    # RFC 6979 3.2 HMAC-DRBG with SHA-256 (qlen == hlen == 256) picks k; extra, when given, is
    # the 3.6 additional data (32 bytes: fresh RNG output from the caller).
    from dtacore.fixedbase import mul_g
    from dtacore.hmac import hmac_sha256
    if not ec.valid_secret(secret):
        raise EncodeError("secret out of range")
    check_digest(digest)
    if extra is not None and len(extra) != EXTRA_LEN:
        raise EncodeError("extra entropy must be 32 bytes")
    d = int.from_bytes(secret, "big")
    z = int.from_bytes(digest, "big")
    seed = bytes(secret) + (z % N).to_bytes(32, "big") + (bytes(extra) if extra else b"")
    v = b"\x01" * 32
    k = hmac_sha256(b"\x00" * 32, v + b"\x00" + seed)
    v = hmac_sha256(k, v)
    k = hmac_sha256(k, v + b"\x01" + seed)
    v = hmac_sha256(k, v)
    while True:
        v = hmac_sha256(k, v)
        c = int.from_bytes(v, "big")
        if 0 < c < N:
            r = mul_g(c)[0] % N
            # 1/k through a random multiple: Euclid's running time depends on its input,
            # which is then k*b for a fresh random b, not the nonce itself
            b = int.from_bytes(os.urandom(32), "big") % N or 1
            s = ec.inv(c * b % N, N) * b % N * (z + r * d) % N
            if r and s:
                if s > HALF_N:
                    s = N - s
                return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        k = hmac_sha256(k, v + b"\x00")
        v = hmac_sha256(k, v)


def prepare(pubkey):
    # A key with its own comb table for repeated verification (dtacore.prepared).
    from dtacore.prepared import PreparedKey
    return PreparedKey(pubkey)


def check_digest(digest):
    # Both backends sign and verify 32-byte digests only: a longer one is a caller's mistake
    # (hash it first), not truncated to its leftmost 256 bits as ECDSA would allow.
    if len(digest) != 32:
        raise EncodeError("ECDSA digest must be 32 bytes, got %d" % len(digest))


def compact_scalars(digest, sig, allow_high_s=False):
    # The checks every backend applies before any curve arithmetic: a 32-byte digest
    # (EncodeError otherwise), a 64-byte r || s with 0 < r, s < N and s <= N/2 unless
    # allow_high_s. Returns (r, s), or None for a signature that cannot be valid.
    check_digest(digest)
    if len(sig) != 64:
        return None
    r = int.from_bytes(sig[:32], "big")
    s = int.from_bytes(sig[32:], "big")
    if not (0 < r < N and 0 < s < N) or (s > HALF_N and not allow_high_s):
        return None
    return r, s


def verify(pubkey, digest, sig, allow_high_s=False):
    # True for a valid 64-byte compact signature; high-S is rejected unless allow_high_s.
    # pubkey: SEC1 bytes, or a dtacore.prepared.PreparedKey (from prepare()).
    rs = compact_scalars(digest, sig, allow_high_s)
    if rs is None:
        return False
    r, s = rs
    z = int.from_bytes(digest, "big")
    w = ec.inv(s, N)
    comb = getattr(pubkey, "comb", None)
    if comb is not None:
        from dtacore.prepared import mul2_comb
        pt = mul2_comb(z * w % N, r * w % N, comb)
    else:
        try:
            q = ec.decode_point(pubkey)
        except DecodeError:
            return False
        from dtacore.ecverify import mul2_g
        pt = mul2_g(z * w % N, r * w % N, q)
    if pt is None:
        return False
    # x(R) mod N == r without an inversion: X == x*Z^2 for x = r or x = r + N (< P).
    X, _, Z = pt
    zz = Z * Z % ec.P
    if X == r * zz % ec.P:
        return True
    return r + N < ec.P and X == (r + N) * zz % ec.P


def verify_der(pubkey, digest, der, allow_high_s=False):
    # Strict DER parse then verify; non-canonical DER is simply invalid.
    try:
        sig = sig_from_der(der)
    except DecodeError:
        return False
    return verify(pubkey, digest, sig, allow_high_s)
