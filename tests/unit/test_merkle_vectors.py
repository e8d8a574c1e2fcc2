"""The stored Merkle/checkpoint vectors (tests/vectors/merkle) on CPython: every valid one
verifies, every mutated one raises exactly the typed error recorded in the file."""

import json
from pathlib import Path

import pytest

from dta.signing import verify as verify_digest
from dtacore import errors, merkle, note

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "merkle"
FILES = sorted(VECTORS.glob("*/*/*.json"))
ERROR_TYPES = {"DecodeError": errors.DecodeError, "ProofShapeError": merkle.ProofShapeError,
               "RootMismatchError": merkle.RootMismatchError,
               "SignatureError": note.SignatureError}


def check(v):
    if v["kind"] == "inclusion":
        leaf = merkle.hash_leaf(bytes.fromhex(v["leaf"]))
        merkle.verify_inclusion_bytes(leaf, bytes.fromhex(v["proof"]), bytes.fromhex(v["root"]))
    elif v["kind"] == "consistency":
        merkle.verify_consistency_bytes(bytes.fromhex(v["proof"]), bytes.fromhex(v["root1"]),
                                        bytes.fromhex(v["root2"]))
    else:
        note.verify_checkpoint(v["note"], v["key_name"], bytes.fromhex(v["pubkey"]),
                               verify_digest)


def test_every_required_mutation_is_present():
    names = {f.stem for f in FILES}
    for want in ("valid", "wrong-leaf", "wrong-index", "index-ge-size", "size1-gt-size2",
                 "truncated-proof", "extra-hash", "bit-flip-in-hash-0",
                 "wrong-checkpoint-signature", "trailing-garbage"):
        assert want in names
    assert len(FILES) > 80


@pytest.mark.parametrize("path", FILES, ids=lambda p: "/".join(p.parts[-3:]))
def test_vector(path):
    v = json.loads(path.read_text())
    if v["error"] is None:
        check(v)
        assert path.stem == "valid"
        return
    assert path.stem != "valid"
    with pytest.raises(ERROR_TYPES[v["error"]]) as info:
        check(v)
    assert type(info.value).__name__ == v["error"]
    if isinstance(info.value, merkle.RootMismatchError):
        # Both roots are kept: the claimed one and the recomputed one.
        assert info.value.expected != info.value.got
        assert len(info.value.expected) == len(info.value.got) == 32
