"""The Birth Record: a canonical, versioned binary encoding of who a D-TA is.

SHA-256 of the encoding is the D-TA id. The record stays private (it is kept inside the encrypted
key file) until the operator reveals it; the id alone says nothing because the record holds a
32-byte random nonce.

Version 1 layout (all integers big-endian)::

    0   4   magic "DTAB"
    4   1   version = 1
    5   1   network code (0 mainnet, 1 testnet, 2 signet, 3 regtest)
    6   8   creation time, Unix seconds
    14  1   name length N (1..64), then N bytes UTF-8 name
    ..  33  identity public key (compressed secp256k1)
    ..  32  master-secret commitment = SHA-256("DTA master commitment v1" || master secret)
    ..  32  nonce (random)
    ..  1   software version length M (1..32), then M bytes printable ASCII
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from dta.chain import network as networks
from dta.errors import DecodeError

MAGIC = b"DTAB"
VERSION = 1
# A name is a label for operators, not a document; 64 bytes keeps the record small.
MAX_NAME = 64
# "1.2.3+build" style strings; 32 bytes is plenty and bounds the record.
MAX_SOFTWARE = 32
COMMIT_TAG = b"DTA master commitment v1"


def master_commitment(master_secret: bytes) -> bytes:
    return hashlib.sha256(COMMIT_TAG + master_secret).digest()


@dataclass(frozen=True)
class BirthRecord:
    name: str
    identity_pubkey: bytes
    master_commitment: bytes
    nonce: bytes
    software_version: str
    network: str
    created: int

    def encode(self) -> bytes:
        name = self.name.encode("utf-8")
        soft = self.software_version.encode("ascii")
        net = networks.get(self.network)
        if not 1 <= len(name) <= MAX_NAME:
            raise ValueError(f"name must be 1..{MAX_NAME} bytes of UTF-8")
        if not 1 <= len(soft) <= MAX_SOFTWARE or not all(0x20 < b < 0x7F for b in soft):
            raise ValueError(f"software version must be 1..{MAX_SOFTWARE} printable ASCII bytes")
        if len(self.identity_pubkey) != 33 or len(self.master_commitment) != 32 or len(self.nonce) != 32:
            raise ValueError("pubkey must be 33 bytes, commitment and nonce 32")
        if not 0 <= self.created < 2**64:
            raise ValueError("creation time out of range")
        return b"".join([MAGIC, bytes([VERSION, net.code]), struct.pack(">Q", self.created),
                         bytes([len(name)]), name, self.identity_pubkey, self.master_commitment,
                         self.nonce, bytes([len(soft)]), soft])

    @property
    def dta_id(self) -> bytes:
        return hashlib.sha256(self.encode()).digest()

    @classmethod
    def decode(cls, data: bytes) -> "BirthRecord":
        data = bytes(data)
        if len(data) < 15 or data[:4] != MAGIC:
            raise DecodeError("not a Birth Record: bad magic or truncated")
        if data[4] != VERSION:
            raise DecodeError(f"unknown Birth Record version {data[4]}")
        net = networks.BY_CODE.get(data[5])
        if net is None:
            raise DecodeError(f"unknown network code {data[5]}")
        (created,) = struct.unpack(">Q", data[6:14])
        pos = 14
        n = data[pos]
        pos += 1
        if not 1 <= n <= MAX_NAME:
            raise DecodeError(f"name length {n} out of range 1..{MAX_NAME}")
        fixed = n + 33 + 32 + 32 + 1
        if len(data) < pos + fixed:
            raise DecodeError("Birth Record truncated")
        try:
            name = data[pos:pos + n].decode("utf-8")
        except UnicodeDecodeError:
            raise DecodeError("name is not UTF-8") from None
        pos += n
        pub, commit, nonce = data[pos:pos + 33], data[pos + 33:pos + 65], data[pos + 65:pos + 97]
        pos += 97
        m = data[pos]
        pos += 1
        if not 1 <= m <= MAX_SOFTWARE:
            raise DecodeError(f"software version length {m} out of range 1..{MAX_SOFTWARE}")
        if len(data) < pos + m:
            raise DecodeError("Birth Record truncated")
        if len(data) > pos + m:
            raise DecodeError("trailing bytes after Birth Record")
        soft = data[pos:pos + m]
        if not all(0x20 < b < 0x7F for b in soft):
            raise DecodeError("software version is not printable ASCII")
        if pub[0] not in (2, 3):
            raise DecodeError("identity key is not a compressed secp256k1 point")
        rec = cls(name, pub, commit, nonce, soft.decode("ascii"), net.name, created)
        return rec
