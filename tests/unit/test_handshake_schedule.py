"""The handshake vectors recomputed from the specification (docs/handshake.md) with other code:
hashlib and hmac for SHA-256/HMAC, `cryptography`'s HKDFExpand and AESCCM, coincurve for the
curve. Nothing from dtacore is used here, so the vectors are checked against the document, not
only against the implementation that wrote them."""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
from pathlib import Path

import coincurve
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "handshake"


def load(name):
    return json.loads((VECTORS / f"{name}.json").read_text())


def h(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


def kdf(prk: bytes, label: int, context: bytes, length: int) -> bytes:
    info = struct.pack(">HH", label, len(context)) + context + struct.pack(">H", length)
    return HKDFExpand(hashes.SHA256(), length, info).derive(prk)


def ccm(key, nonce, plaintext, aad):
    return AESCCM(key, tag_length=8).encrypt(nonce, plaintext, aad)


def id_cred(cid: bytes) -> bytes:
    return cid if len(cid) == 1 else b"\xf8" + cid


def verify(pub: bytes, digest: bytes, sig: bytes) -> bool:
    der = coincurve.ecdsa.cdata_to_der(coincurve.ecdsa.deserialize_compact(sig))
    return coincurve.PublicKey(pub).verify(der, digest, hasher=None)


def sig_digest(n, idc, th_n, cred, ead, mac):
    return h(b"DTA/v1/sigma\x00", bytes((n,)), idc, th_n, cred, bytes((len(ead),)), ead, mac)


def recompute_full(v: dict) -> dict:
    i, r = v["parties"]["I"], v["parties"]["R"]
    rng_i, rng_r = bytes.fromhex(i["rng"]), bytes.fromhex(r["rng"])
    cred_i, cred_r = bytes.fromhex(i["pubkey"]), bytes.fromhex(r["pubkey"])
    idc_i, idc_r = id_cred(bytes.fromhex(i["cred_id"])), id_cred(bytes.fromhex(r["cred_id"]))
    ead_i, ead_r = bytes.fromhex(i.get("ead", "")), bytes.fromhex(r.get("ead", ""))
    x, c_i = rng_i[:32], rng_i[32]
    y, c_r = rng_r[:32], rng_r[32]
    c_r ^= c_r == c_i
    t = {"G_X": coincurve.PrivateKey(x).public_key.format(True)[1:],
         "G_Y": coincurve.PrivateKey(y).public_key.format(True)[1:]}
    t["message_1"] = b"\x11\xe8" + t["G_X"] + bytes((c_i,))
    t["G_XY"] = coincurve.PublicKey(b"\x02" + t["G_X"]).multiply(y).format(True)[1:]
    assert t["G_XY"] == coincurve.PublicKey(b"\x02" + t["G_Y"]).multiply(x).format(True)[1:]
    t["TH_2"] = h(t["G_Y"], h(t["message_1"]))
    prk = t["PRK_2e"] = hmac.new(t["TH_2"], t["G_XY"], "sha256").digest()
    t["MAC_2"] = kdf(prk, 2, bytes((c_r,)) + idc_r + t["TH_2"] + cred_r + ead_r, 32)
    t["SIG_2_DIGEST"] = sig_digest(2, idc_r, t["TH_2"], cred_r, ead_r, t["MAC_2"])
    sig2 = bytes.fromhex(v["trace"]["PLAINTEXT_2"])[1 + len(idc_r):][:64]
    assert verify(cred_r, t["SIG_2_DIGEST"], sig2)
    p2 = t["PLAINTEXT_2"] = bytes((c_r,)) + idc_r + sig2 + ead_r
    ks = t["KEYSTREAM_2"] = kdf(prk, 0, t["TH_2"], len(p2))
    ct2 = bytes(a ^ b for a, b in zip(p2, ks, strict=True))
    t["message_2"] = bytes((0x12, c_i)) + t["G_Y"] + ct2
    th3 = t["TH_3"] = h(t["TH_2"], p2, cred_r)
    t["K_3"], t["IV_3"] = kdf(prk, 3, th3, 16), kdf(prk, 4, th3, 13)
    t["MAC_3"] = kdf(prk, 6, idc_i + th3 + cred_i + ead_i, 32)
    t["SIG_3_DIGEST"] = sig_digest(3, idc_i, th3, cred_i, ead_i, t["MAC_3"])
    sig3 = bytes.fromhex(v["trace"]["PLAINTEXT_3"])[len(idc_i):][:64]
    assert verify(cred_i, t["SIG_3_DIGEST"], sig3)
    p3 = t["PLAINTEXT_3"] = idc_i + sig3 + ead_i
    t["message_3"] = bytes((0x13, c_r)) + ccm(t["K_3"], t["IV_3"], p3, bytes((0x13, c_r)) + th3)
    th4 = t["TH_4"] = h(th3, p3, cred_i)
    t["PRK_out"] = kdf(prk, 7, th4, 32)
    t["K_4"], t["IV_4"] = kdf(prk, 8, th4, 16), kdf(prk, 9, th4, 13)
    exp = t["PRK_exporter"] = kdf(t["PRK_out"], 10, b"", 32)
    for name, label, n in (("K_I2R", 0x8000, 16), ("IV_I2R", 0x8001, 13),
                           ("K_R2I", 0x8002, 16), ("IV_R2I", 0x8003, 13)):
        t[name] = kdf(exp, label, b"", n)
    if r.get("tickets") and "store" in v:
        t["RS_0"] = kdf(exp, 0x8004, b"", 32)
        t["PLAINTEXT_4"] = rng_r[65:73] + struct.pack(">IB", v["store"]["lifetime"],
                                                     v["store"]["max_uses"])
    else:
        t["PLAINTEXT_4"] = b""
    head = bytes((0x14, c_i))
    t["message_4"] = head + ccm(t["K_4"], t["IV_4"], t["PLAINTEXT_4"], head + th4)
    return t


def check(v: dict, t: dict) -> None:
    assert set(t) <= set(v["trace"]), set(t) - set(v["trace"])
    for name, value in t.items():
        assert v["trace"][name] == value.hex(), name
    outs = [bytes.fromhex(s["out"]) for s in v["steps"] if ("start" in s or "in" in s)
            and s.get("out")]
    for got, name in zip(outs, ("message_1", "message_2", "message_3", "message_4"), strict=True):
        assert got == t[name], name


def test_full_run_recomputed():
    v = load("full")
    t = recompute_full(v)
    check(v, t)
    # the first record, initiator to responder: nonce = IV xor SEQ 0, AAD = the header
    seal = next(s for s in v["steps"] if "seal" in s)
    c_r = bytes.fromhex(v["trace"]["PLAINTEXT_2"])[0]
    head = bytes((0x17, c_r)) + struct.pack(">I", 0)
    assert bytes.fromhex(seal["out"]) == head + ccm(t["K_I2R"], t["IV_I2R"], b"ping", head)


def test_variants_recomputed():
    for name in ("full-kid8", "full-device-to-device"):
        v = load(name)
        check(v, recompute_full(v))


def recompute_resumed(v: dict, rs_prev: bytes) -> dict:
    ticket = bytes.fromhex(v["parties"]["I"]["ticket"])
    tid, use = ticket[1:9], ticket[9] + 1
    rng_i, rng_r = bytes.fromhex(v["parties"]["I"]["rng"]), bytes.fromhex(v["parties"]["R"]["rng"])
    t = {"RS_u": kdf(rs_prev, 0x8010, tid + bytes((use,)), 32)}
    c_i = rng_i[0]
    head1 = bytes((0x15, c_i)) + tid + bytes((use,))
    t["TH_r1"] = h(head1)
    t["BINDER"] = kdf(t["RS_u"], 0x8011, t["TH_r1"], 8)
    t["resume_1"] = head1 + t["BINDER"]
    c_r = rng_r[0] ^ (rng_r[0] == c_i)
    head2 = bytes((0x16, c_i, c_r)) + rng_r[1:9]
    t["TH_r2"] = h(t["TH_r1"], t["BINDER"], head2)
    t["MAC_r2"] = kdf(t["RS_u"], 0x8012, t["TH_r2"], 8)
    t["resume_2"] = head2 + t["MAC_r2"]
    t["PRK_out"] = kdf(t["RS_u"], 0x8013, t["TH_r2"], 32)
    exp = t["PRK_exporter"] = kdf(t["PRK_out"], 10, b"", 32)
    t["K_I2R"], t["IV_I2R"] = kdf(exp, 0x8000, b"", 16), kdf(exp, 0x8001, b"", 13)
    return t


def test_resumed_runs_recomputed():
    full, first, second = load("full"), load("resumed"), load("resumed-second-use")
    ticket = bytes.fromhex(first["parties"]["I"]["ticket"])
    assert ticket[19:51].hex() == full["trace"]["RS_0"]  # the ticket holds the full run's RS_0
    t1 = recompute_resumed(first, ticket[19:51])
    for name, value in t1.items():
        assert first["trace"][name] == value.hex(), name
    # the second use ratchets on from RS_1, which is all either side keeps
    ticket2 = bytes.fromhex(second["parties"]["I"]["ticket"])
    assert ticket2[9] == 1 and ticket2[19:51] == t1["RS_u"]
    t2 = recompute_resumed(second, t1["RS_u"])
    for name, value in t2.items():
        assert second["trace"][name] == value.hex(), name
