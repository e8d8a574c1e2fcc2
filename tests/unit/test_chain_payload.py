"""The OP_RETURN payload (dtacore.anchor): byte-exact both ways, strict decoding, the 80-byte cap."""

import pytest

from dtacore import anchor
from dtacore.errors import DecodeError, ProtocolError

DTA_ID = bytes(range(32))
ROOT = bytes(range(100, 132))
BIRTH = bytes.fromhex("442d5441" "01" "01") + DTA_ID
CHECKPOINT = (bytes.fromhex("442d5441" "01" "02") + DTA_ID[:16]
              + bytes.fromhex("0000000000000007" "00000000000003e8") + ROOT)


def test_birth_payload_bytes():
    assert anchor.encode_birth(DTA_ID) == BIRTH
    assert len(BIRTH) == anchor.BIRTH_LEN == 38
    assert anchor.decode(BIRTH) == (anchor.KIND_BIRTH, DTA_ID, None, None, None)


def test_checkpoint_payload_bytes():
    assert anchor.encode_checkpoint(DTA_ID, 7, 1000, ROOT) == CHECKPOINT
    assert len(CHECKPOINT) == anchor.CHECKPOINT_LEN == 70
    assert anchor.decode(CHECKPOINT) == (anchor.KIND_CHECKPOINT, DTA_ID[:16], 7, 1000, ROOT)


def test_script_round_trip_and_limit():
    script = anchor.op_return_script(CHECKPOINT)
    assert script == b"\x6a\x46" + CHECKPOINT
    assert anchor.payload_of(script) == CHECKPOINT
    big = b"\x01" * 80
    assert anchor.op_return_script(big) == b"\x6a\x4c\x50" + big
    assert anchor.payload_of(anchor.op_return_script(big)) == big
    with pytest.raises(ProtocolError, match="81 bytes, limit 80"):
        anchor.op_return_script(b"\x01" * 81)


@pytest.mark.parametrize("script", [b"", b"\x6a", b"\x00\x14" + b"\x00" * 20, b"\x6a\x05abc",
                                    b"\x6a\x02ab\x01c", b"\x6a\x4d\x01\x00a"])
def test_payload_of_non_carriers_is_none(script):
    assert anchor.payload_of(script) is None


@pytest.mark.parametrize("mutation, data", [
    ("bad-marker", b"D-TB" + BIRTH[4:]),
    ("version-2", BIRTH[:4] + b"\x02" + BIRTH[5:]),
    ("kind-3", BIRTH[:5] + b"\x03" + BIRTH[6:]),
    ("birth-truncated", BIRTH[:-1]),
    ("birth-trailing", BIRTH + b"\x00"),
    ("checkpoint-truncated", CHECKPOINT[:-1]),
    ("checkpoint-trailing", CHECKPOINT + b"\x00"),
    ("empty", b""),
])
def test_decode_rejects(mutation, data):
    with pytest.raises(DecodeError):
        anchor.decode(data)


def test_payload_module_runs_on_micropython():
    from dta.services import micropython as mp
    code = ("from dtacore import anchor\n"
            "p = anchor.encode_checkpoint(bytes(range(32)), 7, 1000, bytes(range(100, 132)))\n"
            "print(p.hex())\n"
            "print(anchor.decode(p)[2:4])\n"
            "print(anchor.payload_of(anchor.op_return_script(p)) == p)\n")
    res = mp.run_code(code)
    assert res.returncode == 0, res.stdout + res.stderr
    lines = res.stdout.decode().split()
    assert lines[0] == CHECKPOINT.hex()
    assert "".join(lines[1:3]) == "(7,1000)" and lines[3] == "True"


def _birth_tx(dta_id=DTA_ID):
    from dta.authority.identity import Signer
    from dta.chain.tx import Outpoint, build_anchor
    signer = Signer(b"\x07" * 32)
    return signer, build_anchor(signer, Outpoint("22" * 32, 1, 50000), anchor.encode_birth(dta_id), 1000)


def test_check_birth_tx_on_host_and_vm():
    from dta.services import micropython as mp
    signer, t = _birth_tx()
    txid = anchor.check_birth_tx(t.raw, DTA_ID, signer.public_key)
    assert txid == bytes.fromhex(t.txid)[::-1]
    _, cp = _birth_tx()
    other_key = bytes.fromhex("03" + "cd" * 32)
    bad = [(t.raw, bytes(32), signer.public_key), (t.raw, DTA_ID, other_key),
           (t.raw[:-1], DTA_ID, signer.public_key)]
    for raw, ident, pub in bad:
        with pytest.raises(DecodeError):
            anchor.check_birth_tx(raw, ident, pub)
    cases = [(t.raw, DTA_ID, signer.public_key)] + bad
    code = ("from dtacore import anchor\nfrom binascii import unhexlify as u, hexlify as h\n"
            "for raw, i, p in %r:\n"
            "    try:\n"
            "        print(h(anchor.check_birth_tx(u(raw), u(i), u(p))).decode())\n"
            "    except Exception as e:\n"
            "        print(type(e).__name__)\n") % [(r.hex(), i.hex(), p.hex()) for r, i, p in cases]
    res = mp.run_code(code)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.decode().split() == [txid.hex(), "DecodeError", "DecodeError", "DecodeError"]
