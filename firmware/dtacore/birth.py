# The Birth Record: who a D-TA is, in one canonical, versioned binary encoding, for host and
# device. SHA-256 of the encoding is the D-TA id that goes on-chain (dtacore.anchor); the record
# itself stays private until the operator reveals it (it holds a random nonce, so the id alone
# says nothing). A device that is shown the record hashes it, compares the digest with the
# OP_RETURN it parsed itself, and reads the identity key from the record: SHA-256 only.
#
# Version 1 layout (integers big-endian):
#   0   4   magic "DTAB"
#   4   1   version = 1
#   5   1   network code (dtacore.network: 0 mainnet, 1 testnet, 2 signet, 3 regtest)
#   6   8   creation time, Unix seconds
#   14  1   name length N (1..MAX_NAME), then N bytes UTF-8 name
#   ..  33  identity public key (compressed secp256k1)
#   ..  32  master-secret commitment = SHA-256(COMMIT_TAG || master secret)
#   ..  32  nonce (random)
#   ..  1   software version length M (1..MAX_SOFTWARE), then M bytes printable ASCII

import hashlib
import struct
from collections import namedtuple

from dtacore import network, utf8
from dtacore.errors import DecodeError, EncodeError

MAGIC = b"DTAB"
VERSION = 1
# A name is a label for operators, not a document; 64 bytes keeps the record small.
MAX_NAME = 64
# "1.2.3+build" style strings; 32 bytes is plenty and bounds the record.
MAX_SOFTWARE = 32
COMMIT_TAG = b"DTA master commitment v1"
PUBKEY_LEN = 33
HASH_LEN = 32
MIN_LEN = 14 + 1 + 1 + PUBKEY_LEN + 2 * HASH_LEN + 1 + 1
MAX_LEN = 14 + 1 + MAX_NAME + PUBKEY_LEN + 2 * HASH_LEN + 1 + MAX_SOFTWARE
_BYTES = (bytes, bytearray, memoryview)

# network is the network's name (dtacore.network); created is Unix seconds.
BirthRecord = namedtuple("BirthRecord", ("name", "identity_pubkey", "master_commitment", "nonce",
                                         "software_version", "network", "created"))


def master_commitment(master_secret):
    return hashlib.sha256(COMMIT_TAG + master_secret).digest()


def _printable(b):
    for c in b:
        if c < 0x21 or c > 0x7E:
            return False
    return True


def _utf8(text):
    # str as UTF-8 bytes; b"" (refused by the length checks) for anything else, and for a lone
    # surrogate (only CPython strings hold one).
    if type(text) is not str:
        return b""
    try:
        return text.encode("utf-8")
    except UnicodeError:
        return b""


def _sized(b, n):
    return isinstance(b, _BYTES) and len(b) == n


def encode(rec):
    name = _utf8(rec.name)
    soft = _utf8(rec.software_version)
    net = network.by_name(rec.network) if type(rec.network) is str else None
    if net is None:
        raise EncodeError("unknown network %r" % (rec.network,))
    if not 1 <= len(name) <= MAX_NAME:
        raise EncodeError("name must be 1..%d bytes of UTF-8" % MAX_NAME)
    if not 1 <= len(soft) <= MAX_SOFTWARE or not _printable(soft):
        raise EncodeError("software version must be 1..%d printable ASCII bytes" % MAX_SOFTWARE)
    if (not _sized(rec.identity_pubkey, PUBKEY_LEN) or rec.identity_pubkey[0] not in (2, 3)
            or not _sized(rec.master_commitment, HASH_LEN) or not _sized(rec.nonce, HASH_LEN)):
        raise EncodeError("pubkey must be 33 bytes compressed, commitment and nonce 32")
    if type(rec.created) is not int or not 0 <= rec.created <= 0xFFFFFFFFFFFFFFFF:
        raise EncodeError("creation time out of range")
    return b"".join([MAGIC, bytes((VERSION, net.code)), struct.pack(">Q", rec.created),
                     bytes((len(name),)), name, bytes(rec.identity_pubkey),
                     bytes(rec.master_commitment), bytes(rec.nonce), bytes((len(soft),)), soft])


def dta_id(encoded):
    # The D-TA id of an encoded record.
    return hashlib.sha256(encoded).digest()


def _fields(data):
    # -> (network, created, name bytes, position after the name)
    if data[4] != VERSION:
        raise DecodeError("unknown Birth Record version %d" % data[4])
    net = network.by_code(data[5])
    if net is None:
        raise DecodeError("unknown network code %d" % data[5])
    created = struct.unpack(">Q", data[6:14])[0]
    n = data[14]
    if not 1 <= n <= MAX_NAME:
        raise DecodeError("name length %d out of range 1..%d" % (n, MAX_NAME))
    if len(data) < 15 + n + PUBKEY_LEN + 2 * HASH_LEN + 1:
        raise DecodeError("Birth Record truncated")
    return net, created, data[15:15 + n], 15 + n


def decode(data):
    # Strict: magic, version, network, every length, trailing bytes. -> BirthRecord
    data = bytes(data)
    if len(data) < MIN_LEN or data[:4] != MAGIC:
        raise DecodeError("not a Birth Record: bad magic or truncated")
    if len(data) > MAX_LEN:
        raise DecodeError("Birth Record longer than %d bytes" % MAX_LEN)
    net, created, name, pos = _fields(data)
    # Checked strictly first: MicroPython's decoder takes forms CPython's refuses (dtacore.utf8).
    if not utf8.valid(name):
        raise DecodeError("name is not UTF-8")
    name = name.decode("utf-8")
    pub = data[pos:pos + PUBKEY_LEN]
    commit = data[pos + PUBKEY_LEN:pos + PUBKEY_LEN + HASH_LEN]
    nonce = data[pos + PUBKEY_LEN + HASH_LEN:pos + PUBKEY_LEN + 2 * HASH_LEN]
    pos += PUBKEY_LEN + 2 * HASH_LEN
    m = data[pos]
    pos += 1
    if not 1 <= m <= MAX_SOFTWARE:
        raise DecodeError("software version length %d out of range 1..%d" % (m, MAX_SOFTWARE))
    if len(data) != pos + m:
        raise DecodeError("Birth Record truncated" if len(data) < pos + m
                          else "trailing bytes after Birth Record")
    soft = data[pos:pos + m]
    if not _printable(soft):
        raise DecodeError("software version is not printable ASCII")
    if pub[0] not in (2, 3):
        raise DecodeError("identity key is not a compressed secp256k1 point")
    return BirthRecord(name, pub, commit, nonce, soft.decode(), net.name, created)
