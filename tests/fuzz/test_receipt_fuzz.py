"""Receipts (log, anchored, birth) from outside fed to the host's strict parser and then to the
verifier, as `dta verify FILE` runs them: only typed errors (dta.errors.USER_ERRORS), an
accepted receipt's canonical JSON is a fixed point of parse and to_json, and a receipt that
parses verifies or fails at a named link. The seeds verify offline against the regtest chain of
tests/fuzz/world.py.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dta import receipt, verify
from dta.errors import USER_ERRORS
from tests.fuzz import support, world

SEEDS = [r.encode() for r in world.receipts()]
ROOT = verify.TrustRoot(header=world.chain().checkpoint, height=world.CHECKPOINT_HEIGHT)


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


def check_receipt(data: bytes) -> bool:
    try:
        rec = receipt.parse(data, "receipt.json")
    except USER_ERRORS:
        return False
    text = rec.to_json()
    again = receipt.parse(text)
    assert again == rec and again.to_json() == text
    try:
        if isinstance(rec, receipt.BirthReceipt):
            verify.verify_birth(rec, ROOT, k=1)
        else:
            verify.verify_log_receipt(rec, world.IDENTITY_PUB)
            verify.verify_receipt(rec, ROOT, k=1, allow_pending=True)
    except USER_ERRORS:
        pass
    return True


def test_seed_receipts_verify():
    for data in SEEDS:
        rec = receipt.parse(data)
        if isinstance(rec, receipt.BirthReceipt):
            assert verify.verify_birth(rec, ROOT, k=1).confirmations >= 1
        elif rec.anchor is not None and rec.anchor.chain is not None:
            assert verify.verify_receipt(rec, ROOT, k=1).anchored


@support.fuzz_settings()
@given(data=st.one_of(support.json_inputs(SEEDS), support.mutated(SEEDS, 40)))
def test_receipt_parse_and_verify(data):
    support.tally("receipt", check_receipt(data))
