"""The authority's files from outside: authority.json (public facts), secrets.bin (the sealed
key file: its header, its ciphertext, and what it decrypts to), and the passphrase file. Only
dta.errors types come out (AuthorityError and its WrongPassphrase), a refused file changes
nothing in the data directory, an accepted authority.json is a fixed point of its own JSON, and
the scrypt parameters of a tampered header never make an unlock cost more than the largest this
version writes (checked before any work).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dta.authority import identity, keystore
from dta.errors import AuthorityError, DtaError
from dtacore import backend, birth
from tests.fuzz import support, world

PASSPHRASE = "fuzz passphrase"
# The curve order: the sealed identity key must be in 1..N-1.
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
PLAIN = world.secret("master") + world.IDENTITY + world.birth_record()
SEALED = keystore.seal(PLAIN, PASSPHRASE, keystore.MIN_LOG2_N)
PASSPHRASES = st.one_of(st.just(PASSPHRASE), st.sampled_from(["", "x", "\udc80", PASSPHRASE + " "]),
                        st.text(max_size=20))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("authority")
    (d / "authority").mkdir()
    return d


def _files(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((d / "authority").iterdir())}


def _encodable(*texts: str) -> None:
    for t in texts:
        t.encode("utf-8")  # what the CLI prints: no lone surrogate gets through


@support.fuzz_settings()
@given(data=support.json_inputs([world.authority_json()]))
def test_authority_json(data_dir, data):
    path = data_dir / "authority" / identity.PUBLIC_FILE
    path.write_bytes(data)
    try:
        facts = identity.load_public(data_dir)
    except AuthorityError:
        support.tally("authority.json", False)
        assert path.read_bytes() == data
        return
    support.tally("authority.json", True)
    _encodable(facts.name, facts.network, facts.software_version)
    path.write_text(json.dumps(facts.as_dict()))
    assert identity.load_public(data_dir) == facts


@st.composite
def key_files(draw) -> bytes:
    blob = bytearray(draw(support.mutated([SEALED], 20)))
    if len(blob) >= 8 and draw(st.booleans()):  # the scrypt parameters in particular
        blob[5] = draw(st.sampled_from([0, 9, 10, 11, 15, 16, 20, 31, 64, 255]))
        blob[6] = draw(st.sampled_from([0, 1, 8, 9, 32, 255]))
        blob[7] = draw(st.sampled_from([0, 1, 2, 16, 255]))
    return bytes(blob)


@support.fuzz_settings(0.1)
@given(blob=key_files(), passphrase=PASSPHRASES)
def test_key_file(blob, passphrase):
    if len(blob) >= keystore.HEADER_LEN + keystore.TAG_LEN and blob[:5] == SEALED[:5]:
        # Checked before scrypt runs: only the parameters this version writes are worked on.
        affordable = (keystore.MIN_LOG2_N <= blob[5] <= keystore.DEFAULT_LOG2_N
                      and blob[6:8] == bytes((keystore.SCRYPT_R, keystore.SCRYPT_P)))
    else:
        affordable = True
    try:
        plain = keystore.unseal(blob, passphrase)
    except AuthorityError as exc:
        support.tally("keystore", False)
        if not affordable:
            assert "scrypt parameters" in str(exc)
        return
    support.tally("keystore", True)
    assert affordable and plain == PLAIN and passphrase == PASSPHRASE


SECRET_EDGES = [bytes(32), N.to_bytes(32, "big"), (N + 1).to_bytes(32, "big"), b"\xff" * 32,
                (N - 1).to_bytes(32, "big"), (1).to_bytes(32, "big")]


@st.composite
def sealed_plaintexts(draw) -> bytes:
    plain = bytearray(draw(support.mutated([PLAIN], 40)))
    if len(plain) >= 64 and draw(st.booleans()):
        plain[32:64] = draw(st.sampled_from(SECRET_EDGES))
    return bytes(plain)


@support.fuzz_settings(0.05)
@given(plain=sealed_plaintexts())
def test_sealed_secrets(data_dir, plain):
    path = data_dir / "authority" / identity.SECRETS_FILE
    path.write_bytes(keystore.seal(plain, PASSPHRASE, keystore.MIN_LOG2_N))
    before = _files(data_dir)
    try:
        secrets = identity.unlock(data_dir, PASSPHRASE)
    except AuthorityError:
        support.tally("sealed secrets", False)
        assert _files(data_dir) == before
        return
    support.tally("sealed secrets", True)
    assert secrets.signer.public_key == backend.pubkey(plain[32:64])
    assert secrets.record == plain[64:] and birth.decode(secrets.record) == secrets.birth


@support.fuzz_settings(0.3)
@given(data=st.one_of(st.binary(max_size=80),
                      support.mutated([b"fuzz passphrase\n", b"p\r\nsecond line\n", b""], 20)))
def test_passphrase_file(tmp_path_factory, data):
    from dta.cli import context
    path = tmp_path_factory.getbasetemp() / "passphrase.txt"
    path.write_bytes(data)
    os.chmod(path, 0o600)
    try:
        text = context.passphrase(path)
    except DtaError:
        support.tally("passphrase file", False)
        return
    support.tally("passphrase file", True)
    _encodable(text)
    assert "\n" not in text
