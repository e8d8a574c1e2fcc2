"""The OP_RETURN payload (dtacore.anchor): byte-exact both ways, strict decoding, the 80-byte
cap."""

import pytest

from dtacore import anchor, bitcoin
from dtacore import receipt as links
from dtacore.errors import DecodeError, EncodeError

DTA_ID = bytes(range(32))
ROOT = bytes(range(100, 132))
BIRTH = bytes.fromhex("442d5441" "01" "01") + DTA_ID
CHECKPOINT = (bytes.fromhex("442d5441" "01" "02") + DTA_ID[:16]
              + bytes.fromhex("0000000000000007" "00000000000003e8") + ROOT)


def test_birth_payload_bytes():
    assert anchor.encode_birth(DTA_ID) == BIRTH
    assert len(BIRTH) == anchor.BIRTH_LEN == 38
    decoded = anchor.decode(BIRTH)
    assert decoded == anchor.BirthAnchor(anchor.KIND_BIRTH, DTA_ID)
    assert (decoded.kind, decoded.dta_id) == (anchor.KIND_BIRTH, DTA_ID)


def test_checkpoint_payload_bytes():
    assert anchor.encode_checkpoint(DTA_ID, 7, 1000, ROOT) == CHECKPOINT
    assert len(CHECKPOINT) == anchor.CHECKPOINT_LEN == 70
    decoded = anchor.decode(CHECKPOINT)
    assert decoded == anchor.CheckpointAnchor(anchor.KIND_CHECKPOINT, DTA_ID[:16], 7, 1000, ROOT)
    assert (decoded.sequence, decoded.tree_size, decoded.root) == (7, 1000, ROOT)


def test_script_round_trip_and_limit():
    script = anchor.op_return_script(CHECKPOINT)
    assert script == b"\x6a\x46" + CHECKPOINT
    assert anchor.payload_of(script) == CHECKPOINT
    big = b"\x01" * 80
    assert anchor.op_return_script(big) == b"\x6a\x4c\x50" + big
    assert anchor.payload_of(anchor.op_return_script(big)) == big
    with pytest.raises(EncodeError, match="81 bytes, limit 80"):
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
            "d = anchor.decode(p)\n"
            "print((d.sequence, d.tree_size))\n"
            "print(anchor.payload_of(anchor.op_return_script(p)) == p)\n")
    res = mp.run_code(code)
    assert res.returncode == 0, res.stdout + res.stderr
    lines = res.stdout.decode().split()
    assert lines[0] == CHECKPOINT.hex()
    assert "".join(lines[1:3]) == "(7,1000)" and lines[3] == "True"


def _birth_tx(dta_id=DTA_ID):
    from dta.anchor.tx import Outpoint, build_anchor
    from dta.signing import Signer
    signer = Signer(b"\x07" * 32)
    return signer, build_anchor(signer, Outpoint("22" * 32, 1, 50000), anchor.encode_birth(dta_id),
                                1000)


def test_check_birth_anchor_on_host_and_vm():
    from dta.services import micropython as mp
    signer, t = _birth_tx()
    txid = links.check_birth_anchor(t.raw, signer.public_key, DTA_ID)
    assert txid == bytes.fromhex(t.txid)[::-1] == bitcoin.parse_tx(t.raw).txid
    other_key = bytes.fromhex("03" + "cd" * 32)
    bad = [(t.raw, bytes(32), signer.public_key, "payload"),
           (t.raw, DTA_ID, other_key, "anchor signer"),
           (t.raw[:-1], DTA_ID, signer.public_key, "anchor signer")]
    for raw, ident, pub, link in bad:
        with pytest.raises(links.LinkError) as e:
            links.check_birth_anchor(raw, pub, ident)
        assert e.value.link == link
    cases = [(t.raw, DTA_ID, signer.public_key)] + [b[:3] for b in bad]
    code = ("from dtacore import receipt\nfrom binascii import unhexlify as u, hexlify as h\n"
            "for raw, i, p in %r:\n"
            "    try:\n"
            "        print(h(receipt.check_birth_anchor(u(raw), u(p), u(i))).decode())\n"
            "    except receipt.LinkError as e:\n"
            "        print(e.link.replace(' ', '-'))\n") % [
                (r.hex(), i.hex(), p.hex()) for r, i, p in cases]
    res = mp.run_code(code)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.decode().split() == [txid.hex(), "payload", "anchor-signer",
                                           "anchor-signer"]


def _tx(n_out_script: int) -> bytes:
    # version | 1 input (36-byte outpoint, empty script, sequence) | 1 output | locktime
    out = bytes(8) + bytes((n_out_script,)) + b"\x6a" * n_out_script
    return (b"\x02\x00\x00\x00" + b"\x01" + bytes(36) + b"\x00" + b"\xff" * 4 + b"\x01" + out
            + bytes(4))


def test_a_64_byte_transaction_is_refused_not_taken_for_a_merkle_node():
    # 4 + 1 + 41 + 1 + 9 + s + 4 = 60 + s bytes: s = 4 gives the ambiguous 64.
    assert len(_tx(4)) == bitcoin.AMBIGUOUS_TX_SIZE
    with pytest.raises(DecodeError, match="64-byte"):
        bitcoin.parse_tx(_tx(4))
    for s in (3, 5):
        tx = bitcoin.parse_tx(_tx(s))
        assert tx.txid == bitcoin.sha256d(_tx(s)) and tx.outputs[0].script == b"\x6a" * s
