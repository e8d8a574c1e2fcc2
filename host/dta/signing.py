"""The host's ECDSA, on top of ``dtacore.backend`` (coincurve / libsecp256k1 on CPython).

One surface for every host signer and verifier: compact 64-byte ``r || s`` signatures for
checkpoints and protocol frames, DER for Bitcoin transaction inputs, always low-S, nonces by
RFC 6979 with 32 fresh random bytes as its section 3.6 additional data. The length and low-S
rules live in ``dtacore.ecdsa`` (``check_digest``, ``compact_scalars``), shared with the device.
"""

from __future__ import annotations

import secrets

from dtacore import backend, der


def generate_secret() -> bytes:
    """A uniformly random secp256k1 secret key (32 bytes, 1 <= k < N), by rejection."""
    while True:
        secret = secrets.token_bytes(32)
        if backend.valid_secret(secret):
            return secret


def sign(secret: bytes, digest: bytes) -> bytes:
    """Compact, low-S signature over a 32-byte digest (EncodeError for any other length)."""
    return backend.sign(secret, digest, secrets.token_bytes(32))


def sign_der(secret: bytes, digest: bytes) -> bytes:
    """The same signature in strict DER, as Bitcoin transaction inputs carry it."""
    return der.sig_to_der(sign(secret, digest))


def verify(pubkey: bytes, digest: bytes, signature: bytes) -> bool:
    """True iff `signature` (compact, low-S) by `pubkey` is valid over the 32-byte `digest`."""
    return backend.verify(pubkey, digest, signature)


class Signer:
    """A secp256k1 key held in memory: the authority's identity key (unsealed by
    ``dta.authority.identity``) or a key a test or tool brings. ``public_key`` is the 33-byte
    compressed point; the secret never appears in ``repr`` or logs."""

    def __init__(self, secret: bytes):
        self._secret = bytes(secret)
        self.public_key = backend.pubkey(self._secret, compressed=True)  # EncodeError if invalid

    @classmethod
    def generate(cls) -> "Signer":
        return cls(generate_secret())

    def sign_digest(self, digest: bytes) -> bytes:
        return sign(self._secret, digest)

    def sign_der(self, digest: bytes) -> bytes:
        return sign_der(self._secret, digest)

    def ecdh_secret(self) -> bytes:
        """The key itself, for the one use that needs more than signatures: the handshake's
        ECDH (dtacore.handshake, the D-TA as responder). Kept in memory only, like this copy."""
        return self._secret

    def __repr__(self) -> str:
        return f"Signer({self.public_key.hex()})"
