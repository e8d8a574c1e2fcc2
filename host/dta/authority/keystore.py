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

from dta.errors import AuthorityError, WrongPassphrase

MAGIC = b"DTAK"
VERSION = 1
HEADER_LEN = 36
TAG_LEN = 16
# scrypt N = 2^15, r = 8, p = 1: ~32 MiB and ~0.1 s per unlock, the interactive setting from the
# scrypt paper. Files are written with r = 8, p = 1 and log2 N between MIN_LOG2_N (tests) and
# DEFAULT_LOG2_N; reading accepts exactly those, checked before any work, so a tampered header
# cannot make an unlock allocate gigabytes or run for minutes (the tag check comes after scrypt).
DEFAULT_LOG2_N = 15
MIN_LOG2_N = 10
SCRYPT_R = 8
SCRYPT_P = 1


def _kdf(passphrase: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    try:
        secret = passphrase.encode("utf-8")
    except UnicodeEncodeError:
        raise AuthorityError("the passphrase is not valid text (lone surrogate)") from None
    return Scrypt(salt=salt, length=32, n=1 << log2_n, r=r, p=p).derive(secret)


def seal(plaintext: bytes, passphrase: str, log2_n: int = DEFAULT_LOG2_N) -> bytes:
    if not passphrase:
        raise AuthorityError("an empty passphrase is not allowed")
    if not MIN_LOG2_N <= log2_n <= DEFAULT_LOG2_N:
        raise AuthorityError(f"scrypt log2 N must be {MIN_LOG2_N}..{DEFAULT_LOG2_N}")
    salt, nonce = os.urandom(16), os.urandom(12)
    header = MAGIC + bytes([VERSION, log2_n, SCRYPT_R, SCRYPT_P]) + salt + nonce
    key = _kdf(passphrase, salt, log2_n, SCRYPT_R, SCRYPT_P)
    return header + ChaCha20Poly1305(key).encrypt(nonce, plaintext, header)


def unseal(blob: bytes, passphrase: str) -> bytes:
    if len(blob) < HEADER_LEN + TAG_LEN or blob[:4] != MAGIC:
        raise AuthorityError("key file is not a D-TA key file (bad magic or truncated)")
    if blob[4] != VERSION:
        raise AuthorityError(f"key file version {blob[4]} is not supported")
    log2_n, r, p = blob[5], blob[6], blob[7]
    if not (MIN_LOG2_N <= log2_n <= DEFAULT_LOG2_N and r == SCRYPT_R and p == SCRYPT_P):
        raise AuthorityError(f"key file has scrypt parameters this version never writes "
                             f"(log2 N {log2_n}, r {r}, p {p}): it was modified")
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
