"""Birth Record: canonical bytes in both directions, strict decoding, id = SHA-256(bytes)."""

import hashlib

import pytest

from dtacore import birth
from dtacore.birth import BirthRecord, master_commitment
from dtacore.errors import DecodeError, EncodeError

RECORD = BirthRecord(name="acme-dta-1", identity_pubkey=bytes.fromhex("02" + "11" * 32),
                     master_commitment=master_commitment(b"\x22" * 32), nonce=b"\x33" * 32,
                     software_version="dta/0.1.0", network="regtest", created=1_700_000_000)
ENCODED = bytes.fromhex(
    "44544142" "01" "03" "000000006553f100" "0a" + b"acme-dta-1".hex() + "02" + "11" * 32
    + master_commitment(b"\x22" * 32).hex() + "33" * 32 + "09" + b"dta/0.1.0".hex())


def test_encoding_is_byte_exact_both_ways():
    assert birth.encode(RECORD) == ENCODED
    assert birth.decode(ENCODED) == RECORD
    assert birth.dta_id(ENCODED) == hashlib.sha256(ENCODED).digest()


def test_commitment_hides_secret_but_binds_it():
    assert master_commitment(b"\x22" * 32) != master_commitment(b"\x23" + b"\x22" * 31)
    assert b"\x22" * 32 not in birth.encode(RECORD)


@pytest.mark.parametrize("mutation, data", [
    ("bad-magic", b"XTAB" + ENCODED[4:]),
    ("version-2", ENCODED[:4] + b"\x02" + ENCODED[5:]),
    ("unknown-network", ENCODED[:5] + b"\x09" + ENCODED[6:]),
    ("name-length-0", ENCODED[:14] + b"\x00" + ENCODED[15:]),
    ("name-length-65", ENCODED[:14] + b"\x41" + ENCODED[15:]),
    ("truncated", ENCODED[:-1]),
    ("truncated-header", ENCODED[:10]),
    ("trailing-garbage", ENCODED + b"\x00"),
    ("software-not-printable", ENCODED[:-1] + b"\x01"),
    ("pubkey-not-compressed", ENCODED[:25] + b"\x04" + ENCODED[26:]),
])
def test_strict_decoding_rejects(mutation, data):
    with pytest.raises(DecodeError):
        birth.decode(data)


@pytest.mark.parametrize("field, value", [("name", ""), ("name", "x" * 65),
                                          ("software_version", "has space"), ("network", "moon")])
def test_encoding_refuses_out_of_range_fields(field, value):
    with pytest.raises(EncodeError):
        birth.encode(RECORD._replace(**{field: value}))
