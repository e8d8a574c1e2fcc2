"""The D-TA's secrets and identity key: creation, unlocking, and its public facts.

State lives in <data dir>/authority/:
  secrets.bin     sealed (see keystore): master secret | identity key | Birth Record
  authority.json  public facts: id, name, network, identity public key, creation time

The Birth Record's format is dtacore.birth (the device reads it too); the identity key signs
through dta.signing.Signer, the one signer class on the host.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from dta import __version__, strictjson
from dta.authority import keystore
from dta.errors import AuthorityError
from dta.signing import Signer, generate_secret
from dtacore import birth
from dtacore import network as networks
from dtacore.errors import ProtocolError

SECRETS_FILE = "secrets.bin"
PUBLIC_FILE = "authority.json"
PASSPHRASE_ENV = "DTA_PASSPHRASE"
SECRET_LEN = 32
# authority.json is a handful of short fields; anything larger is not ours.
MAX_PUBLIC_FILE = 4096
# sealed plaintext: two 32-byte secrets and a Birth Record
MAX_SEALED = 2 * SECRET_LEN + birth.MAX_LEN


def authority_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "authority"


def exists(data_dir: Path) -> bool:
    """True when `dta authority init` has sealed an identity key into data_dir."""
    return (authority_dir(data_dir) / SECRETS_FILE).exists()


@dataclass(frozen=True)
class PublicFacts:
    """What anyone may know about this D-TA, without its passphrase."""

    dta_id: bytes
    name: str
    network: str
    identity_pubkey: bytes
    created: int
    software_version: str

    @classmethod
    def of(cls, record: birth.BirthRecord) -> "PublicFacts":
        return cls(birth.dta_id(birth.encode(record)), record.name, record.network,
                   bytes(record.identity_pubkey), record.created, record.software_version)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["dta_id"], d["identity_pubkey"] = self.dta_id.hex(), self.identity_pubkey.hex()
        return d


@dataclass(frozen=True)
class Secrets:
    master_secret: bytes
    signer: Signer
    birth: birth.BirthRecord

    @property
    def record(self) -> bytes:
        """The encoded Birth Record (what hashes to the D-TA id)."""
        return birth.encode(self.birth)


def initialise(data_dir: Path, passphrase: str, *, name: str, network: str,
               software_version: str | None = None, created: int | None = None,
               log2_n: int = keystore.DEFAULT_LOG2_N) -> PublicFacts:
    """Make the master secret, nonce and identity key; seal them; write the public facts.
    Refuses to run twice on the same data directory."""
    adir = authority_dir(data_dir)
    if exists(data_dir):
        raise AuthorityError(f"an authority already exists in {adir}; refusing to overwrite it")
    if networks.by_name(network) is None:
        raise AuthorityError(f"unknown network {network!r} "
                             f"(known: {', '.join(n.name for n in networks.NETWORKS)})")
    master, ident = os.urandom(SECRET_LEN), generate_secret()
    signer = Signer(ident)
    record = birth.BirthRecord(name=name, identity_pubkey=signer.public_key,
                               master_commitment=birth.master_commitment(master),
                               nonce=os.urandom(32),
                               software_version=software_version or f"dta/{__version__}",
                               network=network,
                               created=int(time.time()) if created is None else created)
    try:
        encoded = birth.encode(record)
    except ProtocolError as exc:
        raise AuthorityError(f"cannot make the Birth Record: {exc}") from None
    keystore.write_private(adir / SECRETS_FILE, keystore.seal(master + ident + encoded,
                                                             passphrase, log2_n), overwrite=False)
    facts = PublicFacts.of(record)
    keystore.write_private(adir / PUBLIC_FILE, json.dumps(facts.as_dict(), indent=2).encode())
    return facts


def _no_authority(data_dir: Path) -> AuthorityError:
    return AuthorityError(f"no authority in {Path(data_dir)} (run `dta authority init`)")


def load_public(data_dir: Path) -> PublicFacts:
    """The public facts from authority.json, checked field by field."""
    path = authority_dir(data_dir) / PUBLIC_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise _no_authority(data_dir) from None
    except OSError as exc:
        raise AuthorityError(f"cannot read {path}: {exc.strerror}") from None
    what = str(path)
    try:
        obj = strictjson.loads(raw, what=what, max_bytes=MAX_PUBLIC_FILE)
        facts = PublicFacts(
            strictjson.hex_field(obj, "dta_id", what, 32), strictjson.field(obj, "name", str, what),
            strictjson.field(obj, "network", str, what),
            strictjson.hex_field(obj, "identity_pubkey", what, 33),
            strictjson.field(obj, "created", int, what),
            strictjson.field(obj, "software_version", str, what))
    except ProtocolError as exc:
        raise AuthorityError(f"{exc}; restore it from a backup or from `dta authority reveal`") \
            from None
    if networks.by_name(facts.network) is None:
        raise AuthorityError(f"{what}: unknown network {facts.network[:32]!r}")
    return facts


def _unpack(plain: bytes) -> Secrets:
    if not 2 * SECRET_LEN < len(plain) <= MAX_SEALED:
        raise AuthorityError("sealed secrets have the wrong length")
    master, ident = plain[:SECRET_LEN], plain[SECRET_LEN:2 * SECRET_LEN]
    try:
        record = birth.decode(plain[2 * SECRET_LEN:])
        signer = Signer(ident)
    except ProtocolError as exc:
        raise AuthorityError(f"sealed secrets are damaged: {exc}") from None
    if (record.identity_pubkey != signer.public_key
            or record.master_commitment != birth.master_commitment(master)):
        raise AuthorityError("sealed secrets are inconsistent with their Birth Record")
    return Secrets(master, signer, record)


def unlock(data_dir: Path, passphrase: str) -> Secrets:
    """Open the sealed secrets (WrongPassphrase, AuthorityError)."""
    path = authority_dir(data_dir) / SECRETS_FILE
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        raise _no_authority(data_dir) from None
    except OSError as exc:
        raise AuthorityError(f"cannot read {path}: {exc.strerror}") from None
    return _unpack(keystore.unseal(blob, passphrase))


def open_signer(data_dir: Path, passphrase: str) -> Signer:
    """The identity key of the authority in `data_dir`: what signs checkpoints and anchors."""
    return unlock(data_dir, passphrase).signer


def public_key(data_dir: Path) -> bytes:
    """The identity (and checkpoint) key's public half, without any passphrase."""
    return load_public(data_dir).identity_pubkey
