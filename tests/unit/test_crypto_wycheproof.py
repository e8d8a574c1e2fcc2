"""Wycheproof vectors (ECDSA secp256k1 plain and bitcoin, ECDH secp256k1, HMAC-SHA256, HKDF-SHA256,
AES-CCM with AES-128 and 7..13-byte nonces) against the pure dtacore modules on CPython and
against the host backend (coincurve / cryptography) through dtacore.backend's interface."""

import importlib.util

import pytest

from dtacore import cpython_crypto as _host
from dtacore import der, hkdf, hmac
from dtacore.errors import DecodeError, EncodeError, VerifyError
from tests.fixtures.crypto import VM_RUNNER, failures, ux_fields, wycheproof_cases

CASES = wycheproof_cases()


def _runner():
    spec = importlib.util.spec_from_file_location("crypto_vm", VM_RUNNER)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _outputs(run):
    out = {}
    for line, _ in CASES:
        f = line.split()
        try:
            r = run(f)
            out[f[1]] = r if isinstance(r, str) else (r.hex() or "-")
        except (DecodeError, VerifyError, EncodeError) as e:
            out[f[1]] = "ERR " + type(e).__name__
    return out


def test_vector_counts():
    kinds = {}
    for line, _ in CASES:
        kinds[line[0]] = kinds.get(line[0], 0) + 1
    # 476 + 463 ECDSA vectors, each with the key uncompressed and compressed, and prepared
    assert kinds["V"] == 2 * (476 + 463) and kinds["P"] == 476 + 463
    assert kinds["H"] == 174 and kinds["K"] == 86
    assert kinds["E"] >= 473  # every valid vector unwraps; broken ASN.1 is rejected host-side
    assert "X" not in kinds
    assert kinds["C"] == 171  # every test of the 21 AES-128 groups with a 7..13-byte nonce


def test_pure_modules_on_cpython():
    runner = _runner()
    assert failures(CASES, _outputs(runner.run)) == []


def _backend_run(f):
    kind = f[0]
    x = ux_fields(f)
    if kind in ("V", "P"):
        try:
            sig = der.sig_from_der(x[4])
        except DecodeError:
            return "0"
        return "1" if _host.verify(x[2], x[3], sig, f[5] == "1") else "0"
    if kind == "E":
        return _host.shared_x(x[2], x[3]).hex()
    if kind == "C":
        return _host.ccm_decrypt(x[2], x[3], x[5], x[4], int(f[6])).hex() or "-"
    if kind == "c":
        return _host.ccm_encrypt(x[2], x[3], x[5], x[4], int(f[6])).hex() or "-"
    if kind == "H":
        return hmac.hmac_sha256(x[2], x[3]).hex()
    if kind == "K":
        return hkdf.hkdf(x[2], x[3], x[4], int(f[5])).hex()
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["V", "E", "C"])
def test_host_backend(kind):
    cases = [c for c in CASES
             if c[0][0] in (kind, kind.lower()) or (kind == "V" and c[0][0] == "P")]
    out = {}
    for line, _ in cases:
        f = line.split()
        try:
            out[f[1]] = _backend_run(f)
        except (DecodeError, VerifyError, EncodeError) as e:
            out[f[1]] = "ERR " + type(e).__name__
    assert failures(cases, out) == []
