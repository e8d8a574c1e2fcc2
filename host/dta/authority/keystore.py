"""Secrets at rest: scrypt derives a key from the passphrase, ChaCha20-Poly1305 seals the bytes.

File layout (version 1)::

    0   4   magic "DTAK"
    4   1   version = 1
    5   1   log2(scrypt N)
    6   1   scrypt r
    7   1   scrypt p
    8   16  salt
    24  12  AEAD nonce
    36  ..  ciphertext + 16-byte tag; the 36 header bytes are the associated data

Any change to the header, the ciphertext or the passphrase fails the tag check.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from dta.errors import DtaError

MAGIC = b"DTAK"
VERSION = 1
HEADER_LEN = 36
# scrypt N = 2^15, r = 8: ~32 MiB and ~0.1 s per unlock, the interactive setting from the scrypt paper.
DEFAULT_LOG2_N = 15
# Refuse files that would make us allocate absurd memory (N = 2^20, r = 8 is ~1 GiB).
MAX_LOG2_N = 20


class AuthorityError(DtaError):
    """The authority's state is missing, already exists, or cannot be unlocked."""


class WrongPassphrase(AuthorityError):
    pass


def _kdf(passphrase: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=1 << log2_n, r=r, p=p).derive(passphrase.encode("utf-8"))


def seal(plaintext: bytes, passphrase: str, log2_n: int = DEFAULT_LOG2_N) -> bytes:
    if not passphrase:
        raise AuthorityError("an empty passphrase is not allowed")
    salt, nonce = os.urandom(16), os.urandom(12)
    header = MAGIC + bytes([VERSION, log2_n, 8, 1]) + salt + nonce
    key = _kdf(passphrase, salt, log2_n, 8, 1)
    return header + ChaCha20Poly1305(key).encrypt(nonce, plaintext, header)


def unseal(blob: bytes, passphrase: str) -> bytes:
    if len(blob) < HEADER_LEN + 16 or blob[:4] != MAGIC:
        raise AuthorityError("key file is not a D-TA key file (bad magic or truncated)")
    if blob[4] != VERSION:
        raise AuthorityError(f"key file version {blob[4]} is not supported")
    log2_n, r, p = blob[5], blob[6], blob[7]
    if not (10 <= log2_n <= MAX_LOG2_N and 1 <= r <= 32 and 1 <= p <= 16):
        raise AuthorityError("key file has out-of-range scrypt parameters")
    header = blob[:HEADER_LEN]
    key = _kdf(passphrase, blob[8:24], log2_n, r, p)
    try:
        return ChaCha20Poly1305(key).decrypt(blob[24:36], blob[HEADER_LEN:], header)
    except InvalidTag:
        raise WrongPassphrase("wrong passphrase (or the key file was modified)") from None


def write_private(path: Path, data: bytes, *, overwrite: bool = True) -> None:
    """Atomic write, mode 0600: a temp file in the same directory, fsync, rename, fsync dir."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not overwrite and path.exists():
        raise AuthorityError(f"{path} already exists; refusing to overwrite")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if not overwrite:
            os.link(tmp, path)  # fails if a concurrent init created it meanwhile
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
    except FileExistsError:
        os.unlink(tmp)
        raise AuthorityError(f"{path} already exists; refusing to overwrite") from None
    except BaseException:
        if tmp.exists():
            os.unlink(tmp)
        raise
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
