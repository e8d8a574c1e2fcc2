"""Anchored receipts: the log receipt (entry, inclusion proof, signed checkpoint) plus the
evidence that its checkpoint is fixed in Bitcoin, and the verifier that trusts none of it.

The anchor evidence goes in the log receipt's ``anchor`` field::

    {"format": "dta-anchor/1", "status": "anchored" | "pending",
     "network": "regtest", "dta_id": hex, "identity_pubkey": hex, "sequence": n,
     "tx": hex (the anchoring transaction, with witness),
     "txout_proof": hex (gettxoutproof: block header + partial merkle tree),
     "checkpoint_height": h, "headers": [hex, ...] (the headers after height h, in order),
     "block_index": i (position in headers of the block holding the transaction)}

Verification recomputes each link and stops at the first that breaks; the error names it:
entry, inclusion proof, checkpoint signature, anchor signer, payload, transaction in block,
header chain, confirmations.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from dtacore import anchor as payloads
from dtacore import entries, merkle, note, spv
from dtacore.errors import ProtocolError

from dta.authority.identity import verify_digest
from dta.chain import network as networks
from dta.chain.rpc import ChainError, Node

FORMAT = "dta-anchor/1"
BIRTH_FORMAT = "dta-birth/1"
LINKS = ("birth record", "entry", "inclusion proof", "checkpoint signature", "anchor signer", "payload",
         "transaction in block", "header chain", "confirmations")


class ReceiptInvalid(ChainError):
    """A receipt failed verification; `link` names the first link that broke."""

    def __init__(self, link: str, reason: str):
        super().__init__(f"{link}: {reason}")
        self.link, self.reason = link, reason


@dataclass(frozen=True)
class Verified:
    entry: object
    leaf_index: int
    tree_size: int
    root: bytes
    sequence: int | None
    txid: str | None
    height: int | None
    confirmations: int | None
    anchored: bool


def pending_evidence(*, network: str, dta_id: bytes, identity_pubkey: bytes, sequence: int) -> dict:
    return {"format": FORMAT, "status": "pending", "network": network, "dta_id": dta_id.hex(),
            "identity_pubkey": identity_pubkey.hex(), "sequence": sequence}


def chain_evidence(node: Node, *, txid: str, raw_tx: str, block_hash: str, k: int,
                   checkpoint_height: int | None = None) -> dict:
    """tx, txout proof and the headers from just after `checkpoint_height` (default: the
    block's parent) to k confirmations (or the tip)."""
    height = int(node.header(block_hash)["height"])
    start = height - 1 if checkpoint_height is None else checkpoint_height
    if start >= height or start < 0:
        raise ChainError(f"checkpoint height {start} is not below the anchor's block {height}")
    last = min(node.height(), height + k - 1)
    headers = [node.header_hex(node.block_hash(h)) for h in range(start + 1, last + 1)]
    if spv.reverse(spv.header_hash(bytes.fromhex(headers[height - start - 1]))).hex() != block_hash:
        raise ChainError("the node's best chain changed while building the receipt; retry")
    return {"tx": raw_tx, "txout_proof": node.txout_proof(txid, block_hash),
            "checkpoint_height": start, "headers": headers, "block_index": height - start - 1}


def anchored_evidence(node: Node, *, network: str, dta_id: bytes, identity_pubkey: bytes,
                      sequence: int, txid: str, raw_tx: str, block_hash: str, k: int,
                      checkpoint_height: int | None = None) -> dict:
    """Evidence for a confirmed checkpoint anchor (the log receipt's `anchor` field)."""
    ev = {"format": FORMAT, "status": "anchored", "network": network, "dta_id": dta_id.hex(),
          "identity_pubkey": identity_pubkey.hex(), "sequence": sequence}
    ev.update(chain_evidence(node, txid=txid, raw_tx=raw_tx, block_hash=block_hash, k=k,
                             checkpoint_height=checkpoint_height))
    return ev


def birth_evidence(node: Node, *, network: str, dta_id: bytes, identity_pubkey: bytes, txid: str,
                   raw_tx: str, block_hash: str, k: int, checkpoint_height: int | None = None,
                   birth_record: bytes | None = None) -> dict:
    """A Birth receipt: the D-TA's identity key is the one that anchored this id, k deep.
    With `birth_record` (revealed) anyone can also read who the D-TA says it is."""
    ev = {"format": BIRTH_FORMAT, "network": network, "dta_id": dta_id.hex(),
          "identity_pubkey": identity_pubkey.hex(),
          "birth_record": birth_record.hex() if birth_record is not None else None}
    ev.update(chain_evidence(node, txid=txid, raw_tx=raw_tx, block_hash=block_hash, k=k,
                             checkpoint_height=checkpoint_height))
    return ev


@dataclass(frozen=True)
class BirthVerified:
    dta_id: bytes
    identity_pubkey: bytes
    record: object
    txid: str
    height: int
    confirmations: int


def verify_birth(ev: dict, *, k: int | None = None, trusted_header: bytes | None = None,
                 trusted_height: int | None = None, node: Node | None = None,
                 expect_dta_id: bytes | None = None) -> BirthVerified:
    """birth record (if revealed) -> anchor signer -> payload -> transaction in block ->
    header chain -> confirmations."""
    from dta.authority.birth import BirthRecord
    if ev.get("format") != BIRTH_FORMAT:
        raise ReceiptInvalid("birth record", "not a dta-birth/1 receipt")
    pub = _hex(ev, "identity_pubkey", "anchor signer")
    dta_id = _hex(ev, "dta_id", "payload")
    if expect_dta_id is not None and dta_id != expect_dta_id:
        raise ReceiptInvalid("payload", "D-TA id is not the expected one")
    network = ev.get("network")
    if network not in networks.NETWORKS:
        raise ReceiptInvalid("header chain", f"unknown network {network!r}")
    record = None
    if ev.get("birth_record") is not None:
        raw = _hex(ev, "birth_record", "birth record")
        record = _step("birth record", BirthRecord.decode, raw)
        if hashlib.sha256(raw).digest() != dta_id:
            raise ReceiptInvalid("birth record", "SHA-256 of the Birth Record is not the D-TA id")
        if record.identity_pubkey != pub or record.network != network:
            raise ReceiptInvalid("birth record", "identity key or network differ from the record's")

    def check_payload(decoded):
        if decoded[0] != payloads.KIND_BIRTH or decoded[1] != dta_id:
            raise ReceiptInvalid("payload", "the OP_RETURN is not this D-TA's birth anchor")

    txid, height, conf = verify_onchain(ev, pub, check_payload, k=k or networks.get(network).default_k,
                                        node=node, trusted_header=trusted_header,
                                        trusted_height=trusted_height)
    return BirthVerified(dta_id, pub, record, txid, height, conf)


def _hex(obj: dict, key: str, link: str) -> bytes:
    value = obj.get(key)
    if not isinstance(value, str):
        raise ReceiptInvalid(link, f"field {key!r} missing or not a string")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise ReceiptInvalid(link, f"field {key!r} is not hex") from None


def _int(obj: dict, key: str, link: str) -> int:
    value = obj.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ReceiptInvalid(link, f"field {key!r} missing or not a non-negative integer")
    return value


def _step(link: str, fn, *args):
    try:
        return fn(*args)
    except ReceiptInvalid:
        raise
    except (ProtocolError, ValueError) as exc:
        raise ReceiptInvalid(link, str(exc) or type(exc).__name__) from None


def verify_log_part(receipt: dict, identity_pubkey: bytes):
    """entry -> leaf -> inclusion proof -> root of the checkpoint signed by the identity key."""
    entry = _hex(receipt, "entry", "entry")
    decoded = _step("entry", entries.decode, entry)
    proof = _hex(receipt, "proof", "inclusion proof")
    text = receipt.get("checkpoint")
    if not isinstance(text, str):
        raise ReceiptInvalid("checkpoint signature", "checkpoint note missing")
    cp = _step("checkpoint signature", note.parse_checkpoint, text)
    cp = _step("checkpoint signature", note.verify_checkpoint, text, cp.origin, identity_pubkey,
               verify_digest)
    size, index, path = _step("inclusion proof", merkle.decode_proof, proof, merkle.PROOF_INCLUSION)
    if size != cp.size:
        raise ReceiptInvalid("inclusion proof", f"proof is for tree size {size}, checkpoint has {cp.size}")
    _step("inclusion proof", merkle.verify_inclusion, merkle.hash_leaf(entry), index, size, path, cp.root)
    return decoded, index, cp


def verify_receipt(receipt: dict, *, k: int | None = None, trusted_header: bytes | None = None,
                   trusted_height: int | None = None, node: Node | None = None,
                   expect_dta_id: bytes | None = None, expect_pubkey: bytes | None = None,
                   allow_pending: bool = False) -> Verified:
    """Check every link. The header chain is anchored either in `trusted_header` at
    `trusted_height` (offline) or in `node`'s best chain."""
    ev = receipt.get("anchor")
    if not isinstance(ev, dict) or ev.get("format") != FORMAT:
        raise ReceiptInvalid("payload", "receipt carries no dta-anchor/1 evidence")
    pub = _hex(ev, "identity_pubkey", "checkpoint signature")
    dta_id = _hex(ev, "dta_id", "payload")
    if expect_pubkey is not None and pub != expect_pubkey:
        raise ReceiptInvalid("checkpoint signature", "identity key is not the expected one")
    if expect_dta_id is not None and dta_id != expect_dta_id:
        raise ReceiptInvalid("payload", "D-TA id is not the expected one")
    entry, index, cp = verify_log_part(receipt, pub)
    sequence = _int(ev, "sequence", "payload")
    if ev.get("status") != "anchored":
        if allow_pending and ev.get("status") == "pending":
            return Verified(entry, index, cp.size, cp.root, sequence, None, None, None, False)
        raise ReceiptInvalid("payload", f"receipt is {ev.get('status')!r}, not anchored "
                                        "(try `dta receipt upgrade`)")
    network = ev.get("network")
    if network not in networks.NETWORKS:
        raise ReceiptInvalid("header chain", f"unknown network {network!r}")
    k = k or networks.get(network).default_k

    def check_payload(decoded):
        kind, prefix, seq, size, root = decoded
        if kind != payloads.KIND_CHECKPOINT:
            raise ReceiptInvalid("payload", "the OP_RETURN is not a checkpoint anchor")
        for name, want, got in (("D-TA id", dta_id[:payloads.ID_PREFIX_LEN], prefix),
                                ("sequence", sequence, seq), ("tree size", cp.size, size),
                                ("root", cp.root, root)):
            if want != got:
                raise ReceiptInvalid("payload", f"{name} in the OP_RETURN does not match the checkpoint")

    txid, height, conf = verify_onchain(ev, pub, check_payload, k=k, node=node,
                                        trusted_header=trusted_header, trusted_height=trusted_height)
    return Verified(entry, index, cp.size, cp.root, sequence, txid, height, conf, True)


def verify_onchain(ev: dict, pub: bytes, check_payload, *, k: int, node: Node | None,
                   trusted_header: bytes | None, trusted_height: int | None) -> tuple[str, int, int]:
    """The Bitcoin half of a receipt: signer, payload (via `check_payload`), transaction in
    block, header chain, confirmations. Returns (txid, block height, confirmations)."""
    raw = _hex(ev, "tx", "anchor signer")
    txid, inputs, outputs, witness = _step("anchor signer", payloads.parse_tx, raw)
    if len(witness) != 2 or witness[1] != pub:
        raise ReceiptInvalid("anchor signer", "the anchoring transaction is not spent by the identity key")
    data = payloads.find_payload(outputs)
    if data is None:
        raise ReceiptInvalid("payload", "the transaction has no OP_RETURN payload")
    check_payload(_step("payload", payloads.decode, data))

    proof = _hex(ev, "txout_proof", "transaction in block")
    block_header = _step("transaction in block", spv.tx_in_proof, txid, proof)
    headers_hex = ev.get("headers")
    if not isinstance(headers_hex, list) or not headers_hex:
        raise ReceiptInvalid("header chain", "no headers")
    try:
        headers = b"".join(bytes.fromhex(h) for h in headers_hex)
    except (TypeError, ValueError):
        raise ReceiptInvalid("header chain", "headers are not hex") from None
    start = _int(ev, "checkpoint_height", "header chain")
    bidx = _int(ev, "block_index", "transaction in block")
    n = len(headers) // spv.HEADER_LEN
    if bidx >= n or headers[bidx * 80:(bidx + 1) * 80] != block_header:
        raise ReceiptInvalid("transaction in block", "the proof's block is not in the header chain at block_index")

    conf = spv.confirmations(n, bidx)
    if node is not None:
        _check_against_node(node, headers, start)
        conf = node.height() - (start + 1 + bidx) + 1
    else:
        if trusted_header is None or trusted_height is None:
            raise ReceiptInvalid("header chain", "no trusted checkpoint header and no node to check against")
        if trusted_height != start:
            raise ReceiptInvalid("header chain", f"headers start after height {start}, the trusted "
                                                 f"checkpoint is at {trusted_height}")
        _step("header chain", spv.verify_chain, trusted_header, headers, trusted_height)
    if conf < k:
        raise ReceiptInvalid("confirmations", f"{conf} confirmations in the receipt, {k} required")
    return spv.reverse(txid).hex(), start + 1 + bidx, conf


def _check_against_node(node: Node, headers: bytes, start: int) -> None:
    """Each header is the node's best-chain header at its height, with valid proof of work."""
    for i in range(len(headers) // 80):
        h = headers[i * 80:(i + 1) * 80]
        got = spv.reverse(_step("header chain", spv.check_pow, h)).hex()
        try:
            want = node.block_hash(start + 1 + i)
        except ChainError:
            want = None
        if want != got:
            raise ReceiptInvalid("header chain", f"header at height {start + 1 + i} is not in the "
                                                 "node's best chain")


def load(text: str | bytes) -> dict:
    try:
        obj = json.loads(text)
    except ValueError:
        raise ReceiptInvalid("entry", "receipt is not JSON") from None
    if not isinstance(obj, dict):
        raise ReceiptInvalid("entry", "receipt is not a JSON object")
    return obj
