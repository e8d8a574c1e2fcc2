"""Authority set-up: sealed secrets, file modes, wrong passphrase, no overwrite, the Signer."""

import hashlib
import json
import stat

import coincurve
import pytest
from click.testing import CliRunner

from dta import signing
from dta.anchor import address
from dta.authority import identity
from dta.cli import main
from dta.errors import AuthorityError, WrongPassphrase
from dtacore import birth as birth_record
from dtacore.birth import master_commitment

PASS = "correct horse battery staple"


@pytest.fixture
def authority(tmp_path):
    facts = identity.initialise(tmp_path, PASS, name="unit", network="regtest")
    return tmp_path, facts


def test_init_writes_private_files_and_consistent_record(authority):
    data_dir, facts = authority
    adir = identity.authority_dir(data_dir)
    for name in (identity.SECRETS_FILE, identity.PUBLIC_FILE):
        assert stat.S_IMODE((adir / name).stat().st_mode) == 0o600
    secrets = identity.unlock(data_dir, PASS)
    birth = secrets.birth
    assert identity.PublicFacts.of(birth) == facts == identity.load_public(data_dir)
    assert birth.master_commitment == master_commitment(secrets.master_secret)
    assert birth.identity_pubkey == secrets.signer.public_key
    blob = (adir / identity.SECRETS_FILE).read_bytes()
    assert secrets.master_secret not in blob and birth.nonce not in blob
    public = json.loads((adir / identity.PUBLIC_FILE).read_text())
    assert public["dta_id"] == hashlib.sha256(birth_record.encode(birth)).hexdigest()
    assert birth.nonce.hex() not in json.dumps(public)


def test_wrong_passphrase_is_a_clear_error(authority):
    data_dir, _ = authority
    with pytest.raises(WrongPassphrase, match="wrong passphrase"):
        identity.open_signer(data_dir, "not it")


def test_modified_key_file_is_detected(authority):
    data_dir, _ = authority
    path = identity.authority_dir(data_dir) / identity.SECRETS_FILE
    blob = bytearray(path.read_bytes())
    blob[10] ^= 1  # inside the salt: header is authenticated
    path.write_bytes(bytes(blob))
    with pytest.raises(WrongPassphrase):
        identity.unlock(data_dir, PASS)


def test_refuses_to_overwrite(authority):
    data_dir, _ = authority
    with pytest.raises(AuthorityError, match="refusing to overwrite"):
        identity.initialise(data_dir, PASS, name="again", network="regtest")


def test_signer_compact_low_s_verifiable(authority):
    data_dir, _ = authority
    signer = identity.open_signer(data_dir, PASS)
    assert len(signer.public_key) == 33
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    for i in range(20):
        digest = hashlib.sha256(bytes([i])).digest()
        sig = signer.sign_digest(digest)
        assert len(sig) == 64 and int.from_bytes(sig[32:], "big") <= n // 2
        assert signing.verify(signer.public_key, digest, sig)
        der = coincurve.ecdsa.cdata_to_der(coincurve.ecdsa.deserialize_compact(sig))
        assert coincurve.PublicKey(signer.public_key).verify(der, digest, hasher=None)
    assert not signing.verify(signer.public_key, hashlib.sha256(b"x").digest(), sig)
    high_s = sig[:32] + (n - int.from_bytes(sig[32:], "big")).to_bytes(32, "big")
    assert not signing.verify(signer.public_key, digest, high_s)


def test_bech32_address_matches_python_bitcoinlib_reference():
    from bitcoin import segwit_addr
    pub = coincurve.PrivateKey(b"\x01" * 32).public_key.format()
    for hrp in ("bc", "tb", "bcrt", "rb"):
        expected = segwit_addr.encode(hrp, 0, address.hash160(pub))
        assert address.p2wpkh_address(hrp, pub) == expected


def test_cli_init_show_address_reveal(tmp_path):
    runner = CliRunner()
    pw = tmp_path / "pw"
    pw.write_text(PASS + "\n")
    pw.chmod(0o600)
    base = ["--data-dir", str(tmp_path / "d")]
    res = runner.invoke(main, base + ["authority", "init", "--name", "cli", "--json",
                                      "--passphrase-file", str(pw)])
    assert res.exit_code == 0, res.output
    facts = json.loads(res.output)
    res = runner.invoke(main, base + ["authority", "show", "--json"])
    assert json.loads(res.output)["dta_id"] == facts["dta_id"]
    res = runner.invoke(main, base + ["authority", "address", "--json"])
    assert json.loads(res.output)["address"].startswith("bcrt1q")
    out = tmp_path / "birth.bin"
    res = runner.invoke(main, base + ["authority", "reveal", "--out", str(out),
                                      "--passphrase-file", str(pw)])
    assert res.exit_code == 0, res.output
    assert hashlib.sha256(out.read_bytes()).hexdigest() == facts["dta_id"]
    res = runner.invoke(main, base + ["authority", "reveal"], env={"DTA_PASSPHRASE": "nope"})
    assert res.exit_code != 0 and "wrong passphrase" in res.output
    res = runner.invoke(main, base + ["authority", "init", "--name", "cli",
                                      "--passphrase-file", str(pw)])
    assert res.exit_code != 0 and "refusing to overwrite" in res.output
