"""The seal-chain document (``GET /seal-chain``): every step of a D-TA's anchor chain with its
transaction, and for each step in a block its merkle proof, plus the headers from a checkpoint
height to the node's tip. One definition, used by the server (dta.http.documents) and by
`dta verify --from URL --seal-chain` (dta.verify.verify_seal_chain)::

    {"format": "dta-seal-chain/1", "network": name, "dta_id": hex, "identity_pubkey": hex,
     "confirmations_required": k, "checkpoint_height": h, "headers": [hex, ...],
     "steps": [{"step": n, "kind": "birth" | "checkpoint", "sequence": n | null,
                "tree_size": n | null, "root": hex | null, "state": ..., "txid": hex | null,
                "height": n | null, "tx": hex | null, "txout_proof": hex | null, ...}, ...]}

Extra members a step carries for people (fee, vsize, confirmations as the D-TA saw them,
block hash, created) are ignored by the parser: nothing the verifier uses is taken on trust.
"""

from __future__ import annotations

from dataclasses import dataclass

from dta import strictjson
from dta.receipt import ID_LEN, MAX_RECEIPT, PUBKEY_LEN
from dtacore import network as networks
from dtacore import spv
from dtacore.errors import DecodeError

FORMAT = "dta-seal-chain/1"
KINDS = ("birth", "checkpoint")
# A seal chain of a D-TA anchoring every ten minutes for a month is ~4,300 steps; a document
# with more is refused (the verifier reads one document, bounded by MAX_RECEIPT bytes).
MAX_STEPS = 10_000


@dataclass(frozen=True)
class SealStep:
    step: int
    kind: str
    sequence: int | None
    tree_size: int | None
    root: bytes | None
    state: str
    height: int | None
    tx: bytes | None
    txout_proof: bytes | None


@dataclass(frozen=True)
class SealChain:
    network: str
    dta_id: bytes
    identity_pubkey: bytes
    checkpoint_height: int
    headers: tuple[bytes, ...]
    steps: tuple[SealStep, ...]

    @property
    def header_bytes(self) -> bytes:
        return b"".join(self.headers)


def _opt_int(obj: dict, key: str, what: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if type(value) is not int or not 0 <= value < 1 << 63:
        raise DecodeError(f"{what}: {key} must be a non-negative integer or null")
    return value


def _opt_hex(obj: dict, key: str, what: str, size: int | None = None) -> bytes | None:
    if obj.get(key) is None:
        return None
    return strictjson.hex_field(obj, key, what, size)


def _step(obj, i: int) -> SealStep:
    what = f"seal chain step {i}"
    if not isinstance(obj, dict):
        raise DecodeError(f"{what} is not an object")
    kind = strictjson.field(obj, "kind", str, what)
    if kind not in KINDS:
        raise DecodeError(f"{what}: kind must be birth or checkpoint")
    return SealStep(strictjson.field(obj, "step", int, what), kind,
                    _opt_int(obj, "sequence", what), _opt_int(obj, "tree_size", what),
                    _opt_hex(obj, "root", what, 32), strictjson.field(obj, "state", str, what)[:16],
                    _opt_int(obj, "height", what), _opt_hex(obj, "tx", what),
                    _opt_hex(obj, "txout_proof", what))


def parse(text: str | bytes, what: str = "seal chain") -> SealChain:
    obj = strictjson.loads(text, what=what, max_bytes=MAX_RECEIPT)
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise DecodeError(f"{what} is not a {FORMAT} document")
    name = strictjson.field(obj, "network", str, what)
    if networks.by_name(name) is None:
        raise DecodeError(f"{what}: unknown network {name[:32]!r}")
    headers = strictjson.field(obj, "headers", list, what)
    steps = strictjson.field(obj, "steps", list, what)
    if len(headers) > spv.MAX_HEADERS or not steps or len(steps) > MAX_STEPS:
        raise DecodeError(f"{what}: at most {spv.MAX_HEADERS} headers and 1..{MAX_STEPS} steps")
    start = strictjson.field(obj, "checkpoint_height", int, what)
    if not 0 <= start < 1 << 32:
        raise DecodeError(f"{what}: checkpoint_height out of range")
    return SealChain(name, strictjson.hex_field(obj, "dta_id", what, ID_LEN),
                     strictjson.hex_field(obj, "identity_pubkey", what, PUBKEY_LEN), start,
                     tuple(strictjson.hex_value(h, f"{what}: header {i}", spv.HEADER_LEN)
                           for i, h in enumerate(headers)),
                     tuple(_step(s, i) for i, s in enumerate(steps)))


__all__ = ["FORMAT", "MAX_STEPS", "SealChain", "SealStep", "parse"]
