"""The binary receipt a device gets (dtacore.receipt_bytes): the vectors of
tests/vectors/receipt_bytes/ both ways, a strict decoder (every truncation, trailing bytes,
each field's limit and flag), the checks a device runs on a share's receipt, the host's JSON
model and back (what `dta verify` reads), and the same verdicts on the MicroPython VM."""

import json
from pathlib import Path

import pytest

from dta.authority.identity import PublicFacts
from dta.issuance.receipts import to_bytes, to_receipt
from dta.services import micropython as mp
from dta.verify import verify_log_receipt
from dtacore import entries
from dtacore import receipt_bytes as rb
from dtacore.errors import DecodeError, EncodeError
from dtacore.receipt import LinkError

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "receipt_bytes"
NAMES = ("pending", "anchored", "anchored-consistency")
SUBJECT = bytes.fromhex("3f2a1b0c4d5e6f70")
PUBLIC_SHARE = b"\x02" + b"\x11" * 32


def vector(name: str) -> dict:
    return json.loads((VECTORS / f"{name}.json").read_text())


def fields(v: dict) -> rb.Receipt:
    a = v.get("anchor")
    anchor = None if a is None else rb.Anchor(
        a["sequence"], bytes.fromhex(a["tx"]), bytes.fromhex(a["txout_proof"]),
        a["checkpoint_height"], bytes.fromhex(a["headers"]), a["block_index"],
        a["consistency_note"],
        None if a["consistency_proof"] is None else bytes.fromhex(a["consistency_proof"]))
    return rb.Receipt(bytes.fromhex(v["entry"]), bytes.fromhex(v["proof"]), v["note"], anchor)


@pytest.mark.parametrize("name", NAMES)
def test_vectors_both_ways(name):
    v = vector(name)
    data = bytes.fromhex(v["bytes"])
    assert rb.encode(fields(v)) == data
    assert rb.decode(data) == fields(v)


@pytest.mark.parametrize("name", NAMES)
def test_every_truncation_and_trailing_bytes_are_refused(name):
    data = bytes.fromhex(vector(name)["bytes"])
    for n in range(len(data)):
        with pytest.raises(DecodeError):
            rb.decode(data[:n])
    with pytest.raises(DecodeError, match="trailing"):
        rb.decode(data + b"\x00")


def _anchored_offsets(data: bytes) -> dict:
    # offsets of the anchored part's fixed fields, walked from the lengths
    pos = 2
    for _ in range(3):
        pos += 2 + int.from_bytes(data[pos:pos + 2], "big")
    pos += 8
    for _ in range(2):
        pos += 2 + int.from_bytes(data[pos:pos + 2], "big")
    count = pos + 4
    index = count + 1 + data[count] * rb.HEADER_LEN
    return {"count": count, "index": index, "flag": index + 1}


def test_field_by_field_mutations_are_refused():
    data = bytes.fromhex(vector("anchored")["bytes"])
    at = _anchored_offsets(data)
    cases = {
        "version": (0, 2), "form": (1, 3), "entry-length-0": (2, 0),
        "header-count-0": (at["count"], 0), "header-count-over": (at["count"], rb.MAX_HEADERS + 1),
        "block-index-past": (at["index"], 2), "consistency-flag-2": (at["flag"], 2),
    }
    for name, (pos, value) in cases.items():
        bad = bytearray(data)
        bad[pos] = value
        if name == "entry-length-0":
            bad[3] = 0
        with pytest.raises(DecodeError):
            rb.decode(bytes(bad))
    big = bytearray(data)
    big[2:4] = (rb.MAX_ENTRY + 1).to_bytes(2, "big")
    with pytest.raises(DecodeError, match="limit"):
        rb.decode(bytes(big))
    note_at = 2 + 2 + int.from_bytes(data[2:4], "big")
    note_at += 2 + int.from_bytes(data[note_at:note_at + 2], "big") + 2
    bad_utf8 = bytearray(data)
    bad_utf8[note_at] = 0xFF
    with pytest.raises(DecodeError, match="UTF-8"):
        rb.decode(bytes(bad_utf8))


def test_the_encoder_refuses_what_it_cannot_encode():
    r = fields(vector("anchored"))
    a = r.anchor
    bad = [r._replace(entry=b""), r._replace(entry=bytes(rb.MAX_ENTRY + 1)),
           r._replace(note=b"bytes"), r._replace(anchor=a._replace(headers=a.headers[:-1])),
           r._replace(anchor=a._replace(block_index=2)),
           r._replace(anchor=a._replace(consistency_note="x")),
           r._replace(anchor=a._replace(headers=bytes(80 * (rb.MAX_HEADERS + 1)))),
           r._replace(anchor=a._replace(sequence=1 << 64))]
    for b in bad:
        with pytest.raises(EncodeError):
            rb.encode(b)


def test_a_device_checks_that_the_receipt_is_its_shares():
    v = vector("pending")
    r = rb.decode(bytes.fromhex(v["bytes"]))
    pub = bytes.fromhex(v["public_key"])
    p, cp = rb.check_share_entry(r, pub, SUBJECT, 7, PUBLIC_SHARE, 0)
    assert (p.index, cp.size) == (0, 3)
    wrong = [((pub, b"\x00" * 8, 7, PUBLIC_SHARE, 0), "entry"),
             ((pub, SUBJECT, 8, PUBLIC_SHARE, 0), "entry"),
             ((pub, SUBJECT, 7, b"\x03" + b"\x11" * 32, 0), "entry"),
             ((pub, SUBJECT, 7, PUBLIC_SHARE, 1), "entry"),
             ((b"\x02" + bytes(range(32)), SUBJECT, 7, PUBLIC_SHARE, 0), "checkpoint signature")]
    for args, link in wrong:
        with pytest.raises(LinkError) as err:
            rb.check_share_entry(r, *args)
        assert err.value.link == link
    with pytest.raises(LinkError) as err:  # pending: nothing to check on the chain yet
        rb.check_anchored(r, bytes(32), pub, bytes(80), 0, None, 1)
    assert err.value.link == "payload"
    anchored = rb.decode(bytes.fromhex(vector("anchored")["bytes"]))
    rb.check_share_entry(anchored, pub, SUBJECT, 7, PUBLIC_SHARE, 0)
    with pytest.raises(LinkError) as err:  # the vector's transaction is a byte pattern
        rb.check_anchored(anchored, bytes(32), pub, bytes(80), 840000, None, 1)
    assert err.value.link == "anchor signer"
    linked = rb.decode(bytes.fromhex(vector("anchored-consistency")["bytes"]))
    tampered = linked._replace(anchor=linked.anchor._replace(
        consistency_proof=linked.anchor.consistency_proof[:-1] + b"\x00"))
    with pytest.raises(LinkError) as err:
        rb.check_anchored(tampered, bytes(32), pub, bytes(80), 840000, None, 1)
    assert err.value.link == "consistency proof"


@pytest.mark.parametrize("name", NAMES)
def test_the_host_json_receipt_round_trips(name):
    v = vector(name)
    data = bytes.fromhex(v["bytes"])
    facts = PublicFacts(bytes(32), "vector", "regtest", bytes.fromhex(v["public_key"]), 0, "-")
    rec = to_receipt(data, facts)
    assert to_bytes(rec) == data
    entry, proof, _ = verify_log_receipt(rec, bytes.fromhex(v["public_key"]))
    assert isinstance(entry, entries.ShareIssued) and proof.index == 0
    assert (rec.anchor is None) == (name == "pending")
    assert (rec.consistency is not None) == (name == "anchored-consistency")


VM_DECODE = """
from binascii import unhexlify as u
from dtacore import receipt_bytes as rb
from dtacore.errors import ProtocolError
for h in %r:
    try:
        r = rb.decode(u(h))
        print("ok", r.anchor is not None, len(r.entry))
    except ProtocolError as e:
        print(type(e).__name__)
"""
VM_CHECK = """
from binascii import unhexlify as u
from dtacore import receipt_bytes as rb
r = rb.decode(u(%r))
p, cp = rb.check_share_entry(r, u(%r), u(%r), 7, u(%r), 0)
print("checked", p.index, cp.size)
"""


def test_the_vm_agrees(mpy_firmware):
    datas = [bytes.fromhex(vector(n)["bytes"]) for n in NAMES]
    cases = (datas + [d[:-1] for d in datas] + [d + b"\x00" for d in datas]
             + [b"\x02" + datas[0][1:]])
    res = mp.run_code(VM_DECODE % ([c.hex() for c in cases],), heapsize="64k",
                      path=(mpy_firmware,))
    assert res.returncode == 0, res.stdout + res.stderr
    host = []
    for c in cases:
        try:
            r = rb.decode(c)
            host.append(f"ok {r.anchor is not None} {len(r.entry)}")
        except DecodeError:
            host.append("DecodeError")
    assert res.stdout.decode().splitlines() == host
    # the check verifies the checkpoint's signature: the curve's code and working set need
    # more than 64 KiB on the Unix port (docs/security.md), so the device's 96 KiB
    v = vector("pending")
    res = mp.run_code(VM_CHECK % (v["bytes"], v["public_key"], SUBJECT.hex(),
                                  PUBLIC_SHARE.hex()), heapsize="96k", path=(mpy_firmware,))
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.decode().split() == ["checked", "0", "3"]


def test_the_channel_messages_around_receipts_and_trust():
    from dtacore import channel as C

    assert C.receipt_request(5, 812) == b"\x07" + (5).to_bytes(8, "big") + (812).to_bytes(4, "big")
    assert C.decode_message(C.receipt_request(5, 812)) == (C.MSG_RECEIPT_REQUEST, (5, 812))
    assert C.trust_refused(C.TRUST_UNBORN) == b"\x22\x01"
    assert C.decode_trust_refused(b"\x22\x05") == C.TRUST_MALFORMED
    for bad in (b"\x22", b"\x22\x00", b"\x22\x06", b"\x22\x01\x00", b"\x21\x01"):
        with pytest.raises(DecodeError):
            C.decode_trust_refused(bad)
    for bad in (C.receipt_request(5, 812)[:-1], C.receipt_request(5, 812) + b"\x00"):
        with pytest.raises(DecodeError):
            C.decode_message(bad)
    for args in ((1 << 64, 0), (0, 1 << 32), (-1, 0)):
        with pytest.raises(EncodeError):
            C.receipt_request(*args)
    with pytest.raises(EncodeError):
        C.trust_refused(0)
