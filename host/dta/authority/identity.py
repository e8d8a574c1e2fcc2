"""The D-TA's secrets and identity key: creation, unlocking, and the signer others use.

State lives in <data dir>/authority/:
  secrets.bin     sealed (see keystore): master secret | identity key | Birth Record
  authority.json  public facts: id, name, network, identity public key, creation time
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import coincurve

from dta import __version__
from dta.authority import keystore
from dta.authority.birth import BirthRecord, master_commitment
from dta.authority.keystore import AuthorityError, WrongPassphrase  # noqa: F401 (re-export)
from dta.chain import network as networks

SECRETS_FILE = "secrets.bin"
PUBLIC_FILE = "authority.json"
PASSPHRASE_ENV = "DTA_PASSPHRASE"


def authority_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "authority"


class Signer:
    """The identity key. `public_key` is the 33-byte compressed point; signatures are low-S."""

    def __init__(self, secret: bytes):
        self._key = coincurve.PrivateKey(secret)
        self.public_key = self._key.public_key.format(compressed=True)

    def sign_digest(self, digest: bytes) -> bytes:
        """64-byte compact r||s over a 32-byte digest (RFC 6979 nonce, low-S)."""
        if len(digest) != 32:
            raise ValueError("digest must be 32 bytes")
        return self._key.sign_recoverable(digest, hasher=None)[:64]

    def sign_der(self, digest: bytes) -> bytes:
        """DER signature (low-S) for Bitcoin transaction inputs."""
        if len(digest) != 32:
            raise ValueError("digest must be 32 bytes")
        return self._key.sign(digest, hasher=None)

    def __repr__(self) -> str:
        return f"Signer({self.public_key.hex()})"


def verify_digest(public_key: bytes, digest: bytes, signature: bytes) -> bool:
    """Check a 64-byte compact signature made by `Signer.sign_digest` (rejects high-S)."""
    if len(signature) != 64 or len(digest) != 32:
        return False
    r, s = signature[:32], signature[32:]
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    if int.from_bytes(s, "big") > n // 2:
        return False
    try:
        der = coincurve.ecdsa.cdata_to_der(coincurve.ecdsa.deserialize_compact(r + s))
        return coincurve.PublicKey(public_key).verify(der, digest, hasher=None)
    except (ValueError, TypeError):
        return False


@dataclass(frozen=True)
class Secrets:
    master_secret: bytes
    signer: Signer
    birth: BirthRecord


def _pack(master: bytes, ident: bytes, birth: bytes) -> bytes:
    return master + ident + birth


def _unpack(plain: bytes) -> tuple[bytes, bytes, BirthRecord]:
    if len(plain) < 64:
        raise AuthorityError("sealed secrets are truncated")
    return plain[:32], plain[32:64], BirthRecord.decode(plain[64:])


def initialise(data_dir: Path, passphrase: str, *, name: str, network: str,
               software_version: str | None = None, created: int | None = None,
               log2_n: int = keystore.DEFAULT_LOG2_N) -> BirthRecord:
    """Make the master secret, nonce and identity key; seal them; write the public facts.
    Refuses to run twice on the same data directory."""
    adir = authority_dir(data_dir)
    if (adir / SECRETS_FILE).exists():
        raise AuthorityError(f"an authority already exists in {adir}; refusing to overwrite it")
    networks.get(network)
    master = os.urandom(32)
    while True:  # a uniformly random scalar in [1, n-1]; coincurve rejects the rest
        ident = os.urandom(32)
        try:
            signer = Signer(ident)
            break
        except ValueError:
            continue
    birth = BirthRecord(name=name, identity_pubkey=signer.public_key,
                        master_commitment=master_commitment(master), nonce=os.urandom(32),
                        software_version=software_version or f"dta/{__version__}",
                        network=network, created=int(time.time()) if created is None else created)
    encoded = birth.encode()
    keystore.write_private(adir / SECRETS_FILE, keystore.seal(_pack(master, ident, encoded),
                                                             passphrase, log2_n), overwrite=False)
    keystore.write_private(adir / PUBLIC_FILE, json.dumps(public_facts(birth), indent=2).encode())
    return birth


def public_facts(birth: BirthRecord) -> dict:
    return {"dta_id": birth.dta_id.hex(), "name": birth.name, "network": birth.network,
            "identity_pubkey": birth.identity_pubkey.hex(), "created": birth.created,
            "software_version": birth.software_version}


def load_public(data_dir: Path) -> dict:
    path = authority_dir(data_dir) / PUBLIC_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise AuthorityError(f"no authority in {Path(data_dir)} (run `dta authority init`)") from None


def unlock(data_dir: Path, passphrase: str) -> Secrets:
    path = authority_dir(data_dir) / SECRETS_FILE
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        raise AuthorityError(f"no authority in {Path(data_dir)} (run `dta authority init`)") from None
    master, ident, birth = _unpack(keystore.unseal(blob, passphrase))
    signer = Signer(ident)
    if birth.identity_pubkey != signer.public_key or birth.master_commitment != master_commitment(master):
        raise AuthorityError("sealed secrets are inconsistent with their Birth Record")
    return Secrets(master, signer, birth)


def load_signer(data_dir: Path, passphrase: str) -> Signer:
    """The identity key of the authority in `data_dir` (raises WrongPassphrase, AuthorityError)."""
    return unlock(data_dir, passphrase).signer


def resolve_passphrase(passphrase_file: str | os.PathLike | None = None, *, confirm: bool = False) -> str:
    """--passphrase-file, else $DTA_PASSPHRASE, else an interactive prompt."""
    if passphrase_file:
        try:
            text = Path(passphrase_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise AuthorityError(f"cannot read passphrase file: {exc}") from None
        return text.splitlines()[0] if text else ""
    if os.environ.get(PASSPHRASE_ENV):
        return os.environ[PASSPHRASE_ENV]
    import click
    return click.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm)


def dta_id_digest(record: bytes) -> bytes:
    return hashlib.sha256(record).digest()
