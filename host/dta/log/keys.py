"""Checkpoint signing keys and the host's secp256k1 calls for the log.

Checkpoints are signed with the authority's identity key, loaded from its sealed secrets
(``dta.authority.identity``; see docs/log.md). There is no unsealed fallback key: without
`dta authority init` the log cannot sign. ``LocalSigner`` holds a key in memory only, for tests
and tools that bring their own key; it satisfies ``dta.log.store.Signer`` like the authority's.

The two functions ``sign_digest`` and ``verify_digest`` are the only place this package calls
ECC code; they go through ``dtacore.backend`` (coincurve / libsecp256k1 on CPython): compact
64-byte r || s signatures, always low-S.
"""

from __future__ import annotations

import os
from pathlib import Path

from dtacore import backend

from dta.errors import StoreError

def sign_digest(secret: bytes, digest: bytes) -> bytes:
    """ECDSA over a 32-byte digest (RFC 6979 nonce, low-S), compact r || s."""
    return backend.sign(secret, digest)


def verify_digest(pubkey: bytes, digest: bytes, sig: bytes) -> bool:
    """True iff `sig` (compact, low-S) is a valid signature of `digest` by `pubkey`."""
    if len(sig) != 64 or len(digest) != 32:
        return False
    return backend.verify(pubkey, digest, sig)


class LocalSigner:
    """A secp256k1 key held in memory; satisfies the Signer protocol."""

    def __init__(self, secret: bytes):
        self._secret = bytes(secret)
        self.public_key = backend.pubkey(self._secret, compressed=True)

    def sign_digest(self, digest: bytes) -> bytes:
        return sign_digest(self._secret, digest)


def authority_configured(data_dir: Path) -> bool:
    """True when `dta authority init` has sealed an identity key into data_dir."""
    from dta.authority import identity
    return (identity.authority_dir(Path(data_dir)) / identity.SECRETS_FILE).exists()


def _no_authority(data_dir: Path) -> StoreError:
    return StoreError(f"no authority in {data_dir}: the log signs checkpoints with the D-TA's "
                      "identity key (run `dta authority init`)")


def load_signer(data_dir: Path, passphrase_file: str | None = None):
    """The authority identity key (passphrase from --passphrase-file, else $DTA_PASSPHRASE, else
    a prompt)."""
    if not authority_configured(data_dir):
        raise _no_authority(data_dir)
    from dta.authority import identity
    return identity.load_signer(Path(data_dir), identity.resolve_passphrase(passphrase_file))


def public_key(data_dir: Path) -> bytes:
    """The checkpoint key's public half, without any passphrase."""
    if not authority_configured(data_dir):
        raise _no_authority(data_dir)
    from dta.authority import identity
    return bytes.fromhex(identity.load_public(Path(data_dir))["identity_pubkey"])
