"""Receipts: one JSON format, one strict parser, used by everything that reads or writes them.

A log receipt says an entry is in a signed checkpoint; its ``anchor`` field (filled by
``dta receipt upgrade``) says where that checkpoint is fixed in Bitcoin. A birth receipt says a
D-TA's identity key anchored its id. Layouts (docs/log.md, docs/anchoring.md)::

    {"format": "dta-log-receipt/1", "entry": hex, "proof": hex, "checkpoint": "<signed note>",
     "anchor": null | {"format": "dta-anchor/1", "status": "pending" | "anchored",
                       "network": name, "dta_id": hex, "identity_pubkey": hex, "sequence": n,
                       ...chain proof when anchored},
     "consistency": {"checkpoint": "<signed note>", "proof": hex}}   (optional: see below)
    {"format": "dta-birth/1", "network": name, "dta_id": hex, "identity_pubkey": hex,
     "birth_record": hex | null, ...chain proof}

    chain proof: "tx": hex (with witness), "txout_proof": hex (gettxoutproof),
                 "checkpoint_height": h, "headers": [hex, ...] (the headers after height h),
                 "block_index": i (position in headers of the block holding tx)

    consistency: present only when the entry's checkpoint was not itself anchored (the anchorer
                 anchors the newest checkpoint of each anchor window): the signed note of the
                 later checkpoint that was, and the RFC 9162 consistency proof (dtacore.merkle
                 encoding) from the entry's checkpoint to it; `anchor` then describes that
                 later checkpoint.

Parsing is strict: a size cap, bounded nesting, exact key sets, types, hex and lengths. Values
are immutable; ``to_json`` gives the canonical text back. Verification lives in dta.verify, on
dtacore's checks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from dta import strictjson
from dtacore import network as networks
from dtacore import spv
from dtacore.errors import DecodeError

LOG_FORMAT = "dta-log-receipt/1"
ANCHOR_FORMAT = "dta-anchor/1"
BIRTH_FORMAT = "dta-birth/1"
# The largest honest receipt carries spv.MAX_HEADERS headers of 160 hex characters (a verifier
# whose trusted header is weeks old) plus an entry, a proof and a note of a few KiB.
MAX_RECEIPT = 1 << 20
PUBKEY_LEN = 33
ID_LEN = 32

_LOG_KEYS = {"format", "entry", "proof", "checkpoint", "anchor"}
_CONSISTENCY_KEYS = {"checkpoint", "proof"}
_EVIDENCE_KEYS = {"format", "status", "network", "dta_id", "identity_pubkey", "sequence"}
_CHAIN_KEYS = {"tx", "txout_proof", "checkpoint_height", "headers", "block_index"}
_BIRTH_KEYS = {"format", "network", "dta_id", "identity_pubkey", "birth_record"} | _CHAIN_KEYS


@dataclass(frozen=True)
class ChainProof:
    """A transaction, its merkle proof and the headers from a checkpoint height on."""

    tx: bytes
    txout_proof: bytes
    checkpoint_height: int
    headers: tuple[bytes, ...]
    block_index: int

    @property
    def header_bytes(self) -> bytes:
        return b"".join(self.headers)

    def as_json(self) -> dict:
        return {"tx": self.tx.hex(), "txout_proof": self.txout_proof.hex(),
                "checkpoint_height": self.checkpoint_height,
                "headers": [h.hex() for h in self.headers], "block_index": self.block_index}


@dataclass(frozen=True)
class AnchorEvidence:
    """Where a checkpoint is anchored; ``chain`` is None while it is pending."""

    network: str
    dta_id: bytes
    identity_pubkey: bytes
    sequence: int
    chain: ChainProof | None = None

    @property
    def status(self) -> str:
        return "pending" if self.chain is None else "anchored"

    def as_json(self) -> dict:
        out = {"format": ANCHOR_FORMAT, "status": self.status, "network": self.network,
               "dta_id": self.dta_id.hex(), "identity_pubkey": self.identity_pubkey.hex(),
               "sequence": self.sequence}
        if self.chain is not None:
            out.update(self.chain.as_json())
        return out


@dataclass(frozen=True)
class ConsistencyLink:
    """The later, anchored checkpoint (its signed note) and the consistency proof from the
    receipt's checkpoint to it."""

    checkpoint: str
    proof: bytes

    def as_json(self) -> dict:
        return {"checkpoint": self.checkpoint, "proof": self.proof.hex()}


@dataclass(frozen=True)
class Receipt:
    """An entry, its inclusion proof, the signed checkpoint the proof is against, and where
    that checkpoint is anchored (None until `dta receipt upgrade`), directly or, through
    `consistency`, by a later checkpoint that extends it."""

    entry: bytes
    proof: bytes
    checkpoint: str
    anchor: AnchorEvidence | None = None
    consistency: ConsistencyLink | None = None

    def to_json(self) -> str:
        out = {"format": LOG_FORMAT, "entry": self.entry.hex(), "proof": self.proof.hex(),
               "checkpoint": self.checkpoint,
               "anchor": None if self.anchor is None else self.anchor.as_json()}
        if self.consistency is not None:
            out["consistency"] = self.consistency.as_json()
        return json.dumps(out, sort_keys=True)


@dataclass(frozen=True)
class BirthReceipt:
    """A D-TA's identity key anchored its id; with ``birth_record`` (revealed) anyone can read
    who the D-TA says it is."""

    network: str
    dta_id: bytes
    identity_pubkey: bytes
    chain: ChainProof
    birth_record: bytes | None = field(default=None)

    def to_json(self) -> str:
        out = {"format": BIRTH_FORMAT, "network": self.network, "dta_id": self.dta_id.hex(),
               "identity_pubkey": self.identity_pubkey.hex(),
               "birth_record": None if self.birth_record is None else self.birth_record.hex()}
        out.update(self.chain.as_json())
        return json.dumps(out, sort_keys=True)


def _keys(obj, want: set, what: str) -> None:
    if not isinstance(obj, dict):
        raise DecodeError(f"{what} is not a JSON object")
    if set(obj) != want:
        extra, missing = sorted(set(obj) - want), sorted(want - set(obj))
        raise DecodeError(f"{what}: unexpected fields {extra}, missing fields {missing}")


def _network(obj: dict, what: str) -> str:
    name = strictjson.field(obj, "network", str, what)
    if networks.by_name(name) is None:
        raise DecodeError(f"{what}: unknown network {name[:32]!r}")
    return name


def _count(obj: dict, key: str, what: str) -> int:
    value = strictjson.field(obj, key, int, what)
    if not 0 <= value < 1 << 63:
        raise DecodeError(f"{what}: field {key!r} is out of range")
    return value


def _chain(obj: dict, what: str) -> ChainProof:
    headers = strictjson.field(obj, "headers", list, what)
    if not headers or len(headers) > spv.MAX_HEADERS:
        raise DecodeError(f"{what}: 'headers' must hold 1..{spv.MAX_HEADERS} headers")
    parsed = tuple(strictjson.hex_value(h, f"{what}: header {i}", spv.HEADER_LEN)
                   for i, h in enumerate(headers))
    index = _count(obj, "block_index", what)
    if index >= len(parsed):
        raise DecodeError(f"{what}: block_index {index} is past the {len(parsed)} headers")
    return ChainProof(strictjson.hex_field(obj, "tx", what),
                      strictjson.hex_field(obj, "txout_proof", what),
                      _count(obj, "checkpoint_height", what), parsed, index)


def _identity(obj: dict, what: str) -> tuple[str, bytes, bytes]:
    return (_network(obj, what), strictjson.hex_field(obj, "dta_id", what, ID_LEN),
            strictjson.hex_field(obj, "identity_pubkey", what, PUBKEY_LEN))


def _evidence(obj, what: str) -> AnchorEvidence | None:
    if obj is None:
        return None
    what = f"{what} anchor"
    status = obj.get("status") if isinstance(obj, dict) else None
    _keys(obj, _EVIDENCE_KEYS | (_CHAIN_KEYS if status == "anchored" else set()), what)
    if obj["format"] != ANCHOR_FORMAT or status not in ("pending", "anchored"):
        raise DecodeError(f"{what} is not {ANCHOR_FORMAT} evidence with status pending or "
                          "anchored")
    network, dta_id, pub = _identity(obj, what)
    chain = _chain(obj, what) if status == "anchored" else None
    return AnchorEvidence(network, dta_id, pub, _count(obj, "sequence", what), chain)


def _consistency(obj, what: str) -> ConsistencyLink:
    # Absent when the entry's own checkpoint is anchored; never null (one text per receipt).
    what = f"{what} consistency"
    _keys(obj, _CONSISTENCY_KEYS, what)
    return ConsistencyLink(strictjson.field(obj, "checkpoint", str, what),
                           strictjson.hex_field(obj, "proof", what))


def _log_receipt(obj: dict, what: str) -> Receipt:
    _keys(obj, _LOG_KEYS | ({"consistency"} if "consistency" in obj else set()), what)
    link = _consistency(obj["consistency"], what) if "consistency" in obj else None
    if link is not None and obj["anchor"] is None:
        raise DecodeError(f"{what}: a consistency link without anchor evidence says nothing")
    return Receipt(strictjson.hex_field(obj, "entry", what),
                   strictjson.hex_field(obj, "proof", what),
                   strictjson.field(obj, "checkpoint", str, what), _evidence(obj["anchor"], what),
                   link)


def _birth_receipt(obj: dict, what: str) -> BirthReceipt:
    _keys(obj, _BIRTH_KEYS, what)
    network, dta_id, pub = _identity(obj, what)
    record = None
    if obj["birth_record"] is not None:
        record = strictjson.hex_field(obj, "birth_record", what)
    return BirthReceipt(network, dta_id, pub, _chain(obj, what), record)


def parse(text: str | bytes, what: str = "receipt") -> Receipt | BirthReceipt:
    """A log or birth receipt from its JSON text; DecodeError naming `what` otherwise."""
    obj = strictjson.loads(text, what=what, max_bytes=MAX_RECEIPT)
    fmt = obj.get("format") if isinstance(obj, dict) else None
    if fmt == LOG_FORMAT:
        return _log_receipt(obj, what)
    if fmt == BIRTH_FORMAT:
        return _birth_receipt(obj, what)
    raise DecodeError(f"{what} is neither a {LOG_FORMAT} nor a {BIRTH_FORMAT} receipt")
