"""Checkpoint signing keys and the host's secp256k1 calls for the log.

The log signs with the authority's identity key when ``dta.authority.identity`` can load one
(see docs/log.md). Until an authority is configured it uses a log-local key file,
``<data dir>/log-signing.key`` (32 raw bytes, mode 0600, made on first use). Both give an object
with ``public_key`` and ``sign_digest`` (``dta.log.store.Signer``).

The two functions ``sign_digest`` and ``verify_digest`` are the only place this package calls an
ECC library (coincurve, i.e. libsecp256k1): compact 64-byte r || s signatures, always low-S.
"""

from __future__ import annotations

import os
from pathlib import Path

import coincurve
from coincurve.ecdsa import cdata_to_der, deserialize_compact

from dta.errors import StoreError

LOCAL_KEY_FILE = "log-signing.key"


def sign_digest(secret: bytes, digest: bytes) -> bytes:
    """ECDSA over a 32-byte digest (RFC 6979 nonce, low-S), compact r || s."""
    return coincurve.PrivateKey(secret).sign_recoverable(digest, hasher=None)[:64]


def verify_digest(pubkey: bytes, digest: bytes, sig: bytes) -> bool:
    """True iff `sig` (compact, low-S) is a valid signature of `digest` by `pubkey`."""
    if len(sig) != 64 or len(digest) != 32:
        return False
    try:
        der = cdata_to_der(deserialize_compact(sig))
        return coincurve.PublicKey(pubkey).verify(der, digest, hasher=None)
    except (ValueError, TypeError):
        return False


class LocalSigner:
    """A secp256k1 key held in memory; satisfies the Signer protocol."""

    def __init__(self, secret: bytes):
        self._secret = bytes(secret)
        self.public_key = coincurve.PrivateKey(self._secret).public_key.format(compressed=True)

    def sign_digest(self, digest: bytes) -> bytes:
        return sign_digest(self._secret, digest)


def load_local_signer(data_dir: Path) -> LocalSigner:
    """The log-local key: read <data_dir>/log-signing.key, creating it (0600) if absent."""
    path = Path(data_dir) / LOCAL_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        secret = coincurve.PrivateKey().secret
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(secret)
            fh.flush()
            os.fsync(fh.fileno())
    secret = path.read_bytes()
    if len(secret) != 32:
        raise StoreError(f"{path}: not a 32-byte secp256k1 key")
    return LocalSigner(secret)


def load_signer(data_dir: Path, passphrase: str | None = None):
    """The authority identity key if an authority is set up in data_dir, else the local key."""
    try:
        from dta.authority import identity
    except ImportError:
        return load_local_signer(data_dir)
    if passphrase is None or not identity_exists(identity, data_dir):
        return load_local_signer(data_dir)
    return identity.load_signer(Path(data_dir), passphrase)


def identity_exists(identity, data_dir: Path) -> bool:
    exists = getattr(identity, "exists", None)
    return bool(exists(Path(data_dir))) if callable(exists) else True
