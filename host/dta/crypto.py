"""Host-side crypto: the same functions as the device (dtacore.backend, coincurve and
`cryptography` underneath on CPython) plus key generation, which only the host does freely
(the device's RNG quality depends on the board; see docs/security.md)."""

from __future__ import annotations

import secrets

from dtacore.backend import (  # noqa: F401  (re-exported: one set of names host and device)
    ccm_decrypt,
    ccm_encrypt,
    equal,
    hkdf,
    hmac_sha256,
    prepare,
    pubkey,
    shared_x,
    sign,
    valid_secret,
    verify,
)
from dtacore.der import sig_from_der, sig_to_der  # noqa: F401


def generate_secret() -> bytes:
    """A uniformly random secp256k1 secret key (32 bytes, 1 <= k < N), by rejection."""
    while True:
        secret = secrets.token_bytes(32)
        if valid_secret(secret):
            return secret


def sign_fresh(secret: bytes, digest: bytes) -> bytes:
    """Sign with RFC 6979 plus 32 fresh random bytes as extra data (the protocol's default)."""
    return sign(secret, digest, secrets.token_bytes(32))
