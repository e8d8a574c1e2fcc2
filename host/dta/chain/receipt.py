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

import json
from dataclasses import dataclass

from dtacore import anchor as payloads
from dtacore import entries, merkle, note, spv
from dtacore.errors import DecodeError, ProtocolError, VerifyError

from dta.authority.identity import verify_digest
from dta.chain import network as networks
from dta.chain.rpc import ChainError, Node

FORMAT = "dta-anchor/1"
LINKS = ("entry", "inclusion proof", "checkpoint signature", "anchor signer", "payload",
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


def anchored_evidence(node: Node, *, network: str, dta_id: bytes, identity_pubkey: bytes,
                      sequence: int, txid: str, raw_tx: str, block_hash: str, k: int,
                      checkpoint_height: int | None = None) -> dict:
    """Evidence for a confirmed anchor: its tx, merkle proof and the headers from just after
    `checkpoint_height` (default: the block's parent) to k confirmations (or the tip)."""
    height = int(node.header(block_hash)["height"])
    start = height - 1 if checkpoint_height is None else checkpoint_height
    if start >= height:
        raise ChainError(f"checkpoint height {start} is not below the anchor's block {height}")
    last = min(node.height(), height + k - 1)
    headers = [node.header_hex(node.block_hash(h)) for h in range(start + 1, last + 1)]
    if spv.reverse(spv.header_hash(bytes.fromhex(headers[height - start - 1]))).hex() != block_hash:
        raise ChainError("the node's best chain changed while building the receipt; retry")
    return {"format": FORMAT, "status": "anchored", "network": network, "dta_id": dta_id.hex(),
            "identity_pubkey": identity_pubkey.hex(), "sequence": sequence, "tx": raw_tx,
            "txout_proof": node.txout_proof(txid, block_hash), "checkpoint_height": start,
            "headers": headers, "block_index": height - start - 1}


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

    raw = _hex(ev, "tx", "anchor signer")
    txid, inputs, outputs, witness = _step("anchor signer", payloads.parse_tx, raw)
    if len(witness) != 2 or witness[1] != pub:
        raise ReceiptInvalid("anchor signer", "the anchoring transaction is not spent by the identity key")
    data = payloads.find_payload(outputs)
    if data is None:
        raise ReceiptInvalid("payload", "the transaction has no OP_RETURN payload")
    kind, prefix, seq, size, root = _step("payload", payloads.decode, data)
    if kind != payloads.KIND_CHECKPOINT:
        raise ReceiptInvalid("payload", "the OP_RETURN is not a checkpoint anchor")
    for name, want, got in (("D-TA id", dta_id[:payloads.ID_PREFIX_LEN], prefix),
                            ("sequence", sequence, seq), ("tree size", cp.size, size),
                            ("root", cp.root, root)):
        if want != got:
            raise ReceiptInvalid("payload", f"{name} in the OP_RETURN does not match the checkpoint")

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
    return Verified(entry, index, cp.size, cp.root, sequence, spv.reverse(txid).hex(),
                    start + 1 + bidx, conf, True)


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
