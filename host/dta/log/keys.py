"""Checkpoint signing keys and the host's secp256k1 calls for the log.

The log signs with the authority's identity key when ``dta.authority.identity`` can load one
(see docs/log.md). Until an authority is configured it uses a log-local key file,
``<data dir>/log-signing.key`` (32 raw bytes, mode 0600, made on first use). Both give an object
with ``public_key`` and ``sign_digest`` (``dta.log.store.Signer``).

The two functions ``sign_digest`` and ``verify_digest`` are the only place this package calls
ECC code; they go through ``dtacore.backend`` (coincurve / libsecp256k1 on CPython): compact
64-byte r || s signatures, always low-S.
"""

from __future__ import annotations

import os
from pathlib import Path

from dtacore import backend

from dta.errors import StoreError

LOCAL_KEY_FILE = "log-signing.key"


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


def load_local_signer(data_dir: Path) -> LocalSigner:
    """The log-local key: read <data_dir>/log-signing.key, creating it (0600) if absent."""
    path = Path(data_dir) / LOCAL_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        secret = os.urandom(32)
        while not backend.valid_secret(secret):  # 0 or >= n: probability ~2^-128
            secret = os.urandom(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(secret)
            fh.flush()
            os.fsync(fh.fileno())
    secret = path.read_bytes()
    if len(secret) != 32:
        raise StoreError(f"{path}: not a 32-byte secp256k1 key")
    return LocalSigner(secret)


def authority_configured(data_dir: Path) -> bool:
    """True when `dta authority init` has sealed an identity key into data_dir."""
    from dta.authority import identity
    return (identity.authority_dir(Path(data_dir)) / identity.SECRETS_FILE).exists()


def load_signer(data_dir: Path, passphrase_file: str | None = None):
    """The authority identity key if an authority is set up in data_dir (passphrase from
    --passphrase-file, else $DTA_PASSPHRASE, else a prompt), else the log-local key."""
    if not authority_configured(data_dir):
        return load_local_signer(data_dir)
    from dta.authority import identity
    return identity.load_signer(Path(data_dir), identity.resolve_passphrase(passphrase_file))


def public_key(data_dir: Path) -> bytes:
    """The checkpoint key's public half, without any passphrase."""
    if authority_configured(data_dir):
        from dta.authority import identity
        return bytes.fromhex(identity.load_public(Path(data_dir))["identity_pubkey"])
    if not (Path(data_dir) / LOCAL_KEY_FILE).exists():
        raise StoreError(f"no checkpoint key in {data_dir} (no authority, no {LOCAL_KEY_FILE})")
    return load_local_signer(data_dir).public_key
