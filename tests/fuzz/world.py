"""Valid inputs for every decoder, made deterministically from fixed keys: hello frames, serial
records, log entries, checkpoint notes, proofs, anchor payloads, transactions, a regtest header
chain with a gettxoutproof, DER signatures, a Birth Record, device records, receipts (pending,
anchored, birth) that verify offline. The fuzz properties mutate these; a seed that no longer
decodes is a bug in the seed or the decoder, and each test checks its seeds first.

Transactions are built with python-bitcoinlib, the partial merkle tree by the BIP 37 algorithm
written here, headers mined on regtest (target 2^255: one try in two succeeds): everything an
independent implementation, so the decoders are not checked against themselves.
"""

from __future__ import annotations

import hashlib
import json
import struct
from functools import cache

from bitcoin.core import (
    CMutableTransaction,
    CMutableTxIn,
    CMutableTxOut,
    COutPoint,
    CTxInWitness,
    CTxWitness,
)
from bitcoin.core.script import CScript, CScriptWitness

from dta.log.tree import MerkleTree
from dta.receipt import AnchorEvidence, BirthReceipt, ChainProof, Receipt
from dtacore import anchor, backend, birth, der, merkle, note, serial_frame, wire
from dtacore import entries as E
from dtacore import network as networks
from dtanode import records

ORIGIN = "fuzz.example/log"
REGTEST_BITS = 0x207FFFFF
CHECKPOINT_HEIGHT = 100


def secret(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


IDENTITY = secret("fuzz identity")
IDENTITY_PUB = backend.pubkey(IDENTITY)
DEVICE = secret("fuzz device")
DEVICE_PUB = backend.pubkey(DEVICE)


def sign(key: bytes, digest: bytes) -> bytes:
    """Deterministic (RFC 6979 without extra entropy): the seeds are the same every run."""
    return backend.sign(key, digest, bytes(32))


def sha256d(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


# -- device frames ----------------------------------------------------------------------------

def hello(key: bytes, boot: int, board: str = "esp32-s3", firmware: str = "0.1.0") -> bytes:
    unsigned = wire.hello_unsigned(backend.pubkey(key), boot, board, firmware)
    return unsigned + sign(key, wire.hello_digest(unsigned))


@cache
def hellos() -> list[bytes]:
    out = [hello(DEVICE, 1), hello(DEVICE, 0xFFFFFFFF, "x", "y"),
           hello(secret("d2"), 7, "b" * wire.MAX_LABEL, "f" * wire.MAX_LABEL)]
    return out


@cache
def serial_streams() -> list[bytes]:
    recs = [serial_frame.encode(f) for f in hellos()]
    return [recs[0], recs[0] + recs[1], b"\x00\xd7" + recs[2] + b"\xd7",
            serial_frame.encode(b"\x01") + b"noise" + recs[1],
            serial_frame.encode(bytes(range(256)) * 2)]


# -- log entries, tree, checkpoints -----------------------------------------------------------

T = 1_764_000_000_000


@cache
def entries() -> list[bytes]:
    salt = bytes(range(16))
    sig = bytes(range(64))
    es = [E.ShareIssued(b"https://id.example sub-1", 3, DEVICE_PUB, T, salt),
          E.ShareIssued(b"s" * E.MAX_SUBJECT, 0xFFFFFFFF, DEVICE_PUB, 2**64 - 1, salt),
          E.ShareRefused(b"", 1, E.REFUSED_POLICY, T, salt),
          E.DeviceEnrolled(DEVICE_PUB, b"esp32-s3", T, salt),
          E.DeviceEvent(DEVICE_PUB, 9, 3, b"door open", sig, T),
          E.DeviceEvent(DEVICE_PUB, 0, 255, bytes(E.MAX_EVENT_PAYLOAD), sig, 0),
          E.KeyRotation(E.ROTATE_DEVICE, 2, DEVICE_PUB, IDENTITY_PUB, T),
          E.CheckpointAnchored(4, 25, bytes(32), bytes(range(32)), 840000, T)]
    if hasattr(E, "DeviceRevoked"):  # the device-enrolment work adds it
        es.append(E.DeviceRevoked(DEVICE_PUB, E.REVOKED_COMPROMISED, T, salt))
    return [e.encode() for e in es]


@cache
def tree() -> MerkleTree:
    t = MerkleTree()
    for i in range(37):
        t.append_leaf_hash(merkle.hash_leaf(entries()[i % len(entries())] + bytes([i])))
    return t


def entry_at(i: int) -> bytes:
    # Entry i of the tree: a real encoded entry with a trailing byte (the tree hashes bytes;
    # receipt seeds use entries that decode, see log_triples).
    return entries()[i % len(entries())] + bytes([i])


def checkpoint(size: int, *, origin: str = ORIGIN, extra_sigs: int = 0) -> str:
    text = note.sign_checkpoint(origin, size, tree().root(size), origin, IDENTITY_PUB,
                                lambda d: sign(IDENTITY, d))
    for i in range(extra_sigs):
        name = "w%d.example" % i
        text += note.signature_line(name, backend.pubkey(secret(name)),
                                    sign(secret(name), note.text_digest(text.split("\n\n")[0]
                                                                        + "\n")))
    return text


@cache
def notes() -> list[str]:
    long_origin = "o" * note.MAX_NAME
    return [checkpoint(37), checkpoint(1), checkpoint(20, extra_sigs=2),
            checkpoint(37, extra_sigs=note.MAX_SIGNATURES - 1),
            note.sign_checkpoint(long_origin, 10**19 - 1, bytes(32), long_origin, IDENTITY_PUB,
                                 lambda d: sign(IDENTITY, d)),
            note.sign_checkpoint("\u00e9t\u00e9.example/\u2603", 0, merkle.empty_root(), "k",
                                 IDENTITY_PUB, lambda d: sign(IDENTITY, d))]


@cache
def inclusion_proofs() -> list[bytes]:
    t = tree()
    out = []
    for index, size in ((0, 1), (0, 37), (5, 8), (36, 37), (17, 30)):
        out.append(merkle.encode_inclusion(index=index, size=size,
                                           path=t.inclusion_proof(index=index, size=size)))
    return out


@cache
def consistency_proofs() -> list[bytes]:
    t = tree()
    return [merkle.encode_consistency(size1=a, size2=b, path=t.consistency_proof(size1=a,
                                                                                 size2=b))
            for a, b in ((1, 37), (8, 37), (13, 20), (36, 37), (20, 20))]


@cache
def log_triples() -> list[tuple[bytes, bytes, str]]:
    """(entry, inclusion proof, note) that check (dtacore.receipt.check_entry)."""
    t = MerkleTree()
    es = entries()
    for e in es:
        t.append_leaf_hash(merkle.hash_leaf(e))
    size = len(es)
    text = note.sign_checkpoint(ORIGIN, size, t.root(size), ORIGIN, IDENTITY_PUB,
                                lambda d: sign(IDENTITY, d))
    out = []
    for i in (0, 3, size - 1):
        proof = merkle.encode_inclusion(index=i, size=size,
                                        path=t.inclusion_proof(index=i, size=size))
        out.append((es[i], proof, text))
    return out


def pack_triple(entry: bytes, proof: bytes, text: str) -> bytes:
    """One byte string for the VM corpus: u16 len | entry | u16 len | proof | note (UTF-8)."""
    return (struct.pack(">H", len(entry)) + entry + struct.pack(">H", len(proof)) + proof
            + text.encode("utf-8", "surrogatepass"))


# -- Birth Record, anchors, transactions ------------------------------------------------------

@cache
def birth_record() -> bytes:
    rec = birth.BirthRecord(name="Fuzz D-TA \u2603", identity_pubkey=IDENTITY_PUB,
                            master_commitment=birth.master_commitment(secret("master")),
                            nonce=secret("nonce"), software_version="dta/0.1.0",
                            network="regtest", created=1_764_000_000)
    return birth.encode(rec)


def dta_id() -> bytes:
    return birth.dta_id(birth_record())


@cache
def anchor_payloads() -> list[bytes]:
    return [anchor.encode_birth(dta_id()),
            anchor.encode_checkpoint(dta_id(), 0, len(entries()), log_root()),
            anchor.encode_checkpoint(dta_id(), 2**64 - 1, 2**64 - 1, bytes(32))]


def log_root() -> bytes:
    return log_tree_of_entries().root()


@cache
def log_tree_of_entries() -> MerkleTree:
    t = MerkleTree()
    for e in entries():
        t.append_leaf_hash(merkle.hash_leaf(e))
    return t


@cache
def scripts() -> list[bytes]:
    out = [anchor.op_return_script(p) for p in anchor_payloads()]
    out += [anchor.op_return_script(bytes(80)), bytes((0x6A, 0x4C, 3)) + b"abc",
            b"\x00\x14" + bytes(20), b"\x6a"]
    return out


def anchoring_tx(payload: bytes, prev: bytes, *, witness: bool = True) -> bytes:
    """A transaction spending `prev`:0 by the identity key (P2WPKH witness [sig, pubkey]),
    paying change back and carrying `payload` in an OP_RETURN: what the anchorer builds."""
    tx = CMutableTransaction([CMutableTxIn(COutPoint(prev, 0), nSequence=0xFFFFFFFD)],
                             [CMutableTxOut(90_000, CScript(b"\x00\x14" + bytes(20))),
                              CMutableTxOut(0, CScript(anchor.op_return_script(payload)))],
                             nVersion=2)
    if witness:
        sig = der.sig_to_der(sign(IDENTITY, sha256d(prev))) + b"\x01"
        tx.wit = CTxWitness([CTxInWitness(CScriptWitness([sig, IDENTITY_PUB]))])
    return tx.serialize()


@cache
def transactions() -> list[bytes]:
    birth_tx = anchoring_tx(anchor_payloads()[0], secret("funding"))
    cp_tx = anchoring_tx(anchor_payloads()[1], sha256d(birth_tx))
    legacy = CMutableTransaction([CMutableTxIn(COutPoint(secret("p"), 1),
                                               CScript(b"\x51" * 30))],
                                 [CMutableTxOut(1, CScript(b"\x51"))] * 3).serialize()
    return [birth_tx, cp_tx, legacy]


def txid(raw: bytes) -> bytes:
    from bitcoin.core import CTransaction
    return CTransaction.deserialize(raw).GetTxid()


# -- blocks, headers, gettxoutproof -----------------------------------------------------------

def block_merkle_root(txids: list[bytes]) -> bytes:
    level = list(txids)
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [sha256d(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def mine(prev: bytes, root: bytes, time: int, bits: int = REGTEST_BITS) -> bytes:
    target = (bits & 0xFFFFFF) << (8 * ((bits >> 24) - 3))
    for nonce in range(1 << 20):
        h = struct.pack("<I32s32sIII", 0x20000000, prev, root, time, bits, nonce)
        if int.from_bytes(sha256d(h), "little") <= target:
            return h
    raise AssertionError("no nonce found")


def _width(total: int, height: int) -> int:
    return (total + (1 << height) - 1) >> height


def _subtree_hash(txids: list[bytes], height: int, pos: int) -> bytes:
    if height == 0:
        return txids[pos]
    left = _subtree_hash(txids, height - 1, pos * 2)
    if pos * 2 + 1 < _width(len(txids), height - 1):
        right = _subtree_hash(txids, height - 1, pos * 2 + 1)
    else:
        right = left
    return sha256d(left + right)


def txout_proof(header: bytes, txids: list[bytes], matches: set[int]) -> bytes:
    """gettxoutproof bytes for `matches` (indices into txids), by BIP 37's traversal."""
    hashes: list[bytes] = []
    bits: list[int] = []

    def walk(height: int, pos: int) -> None:
        lo, hi = pos << height, min((pos + 1) << height, len(txids))
        parent = any(lo <= m < hi for m in matches)
        bits.append(int(parent))
        if height == 0 or not parent:
            hashes.append(_subtree_hash(txids, height, pos))
            return
        walk(height - 1, pos * 2)
        if pos * 2 + 1 < _width(len(txids), height - 1):
            walk(height - 1, pos * 2 + 1)

    height = 0
    while _width(len(txids), height) > 1:
        height += 1
    walk(height, 0)
    flags = bytearray((len(bits) + 7) // 8)
    for i, b in enumerate(bits):
        flags[i >> 3] |= b << (i & 7)
    return (header + struct.pack("<I", len(txids)) + bytes((len(hashes),)) + b"".join(hashes)
            + bytes((len(flags),)) + bytes(flags))


class Chain:
    """A regtest chain after a trusted checkpoint header: block 1 holds the birth transaction,
    block 2 the checkpoint's anchor, then `extra` empty blocks for confirmations."""

    def __init__(self, extra: int = 3):
        birth_tx, cp_tx, _ = transactions()
        self.birth_tx, self.cp_tx = birth_tx, cp_tx
        self.checkpoint = mine(bytes(32), bytes(32), 1_764_000_000)
        filler = [secret("tx%d" % i)[::-1] for i in range(6)]
        self.blocks = [filler[:2] + [txid(birth_tx)] + filler[2:3],
                       [filler[3], txid(cp_tx)] + filler[4:6]]
        self.headers = []
        prev = sha256d(self.checkpoint)
        for i, txs in enumerate(self.blocks + [[secret("cb%d" % i)] for i in range(extra)]):
            h = mine(prev, block_merkle_root(txs), 1_764_000_600 + 600 * i)
            self.headers.append(h)
            prev = sha256d(h)
        self.proofs = [txout_proof(self.headers[0], self.blocks[0], {2}),
                       txout_proof(self.headers[1], self.blocks[1], {1}),
                       txout_proof(self.headers[1], self.blocks[1], {0, 1, 3}),
                       txout_proof(self.headers[0], self.blocks[0], {0, 1, 2, 3})]

    def proof(self, tx_index: int) -> ChainProof:
        return ChainProof((self.birth_tx, self.cp_tx)[tx_index], self.proofs[tx_index],
                          CHECKPOINT_HEIGHT, tuple(self.headers), tx_index)


@cache
def chain() -> Chain:
    return Chain()


@cache
def header_chains() -> list[bytes]:
    """net code u8 | checkpoint height u32 | checkpoint header | headers (VM corpus form)."""
    c = chain()
    code = networks.REGTEST.code
    return [bytes((code,)) + struct.pack(">I", CHECKPOINT_HEIGHT) + c.checkpoint
            + b"".join(c.headers[:n]) for n in (0, 1, len(c.headers))]


@cache
def der_signatures() -> list[bytes]:
    return [der.sig_to_der(sign(IDENTITY, secret("m%d" % i))) for i in range(4)] + [
        der.sig_to_der(bytes(31) + b"\x01" + b"\x80" + bytes(31)),
        der.sig_to_der(b"\xff" * 64)]


@cache
def device_records() -> list[bytes]:
    return [records.encode(b"DTKY", secret("k")), records.encode(b"DTKY", b""),
            records.encode(b"DTKY", bytes(range(255)))]


# -- receipts -----------------------------------------------------------------------------

def _receipt_parts() -> tuple[bytes, bytes, str]:
    t = log_tree_of_entries()
    size = t.size
    text = note.sign_checkpoint(ORIGIN, size, t.root(size), ORIGIN, IDENTITY_PUB,
                                lambda d: sign(IDENTITY, d))
    proof = merkle.encode_inclusion(index=3, size=size, path=t.inclusion_proof(index=3,
                                                                                size=size))
    return entries()[3], proof, text


@cache
def receipts() -> list[str]:
    entry, proof, text = _receipt_parts()
    evidence = AnchorEvidence("regtest", dta_id(), IDENTITY_PUB, 0)
    anchored = AnchorEvidence("regtest", dta_id(), IDENTITY_PUB, 0, chain().proof(1))
    birth_rec = BirthReceipt("regtest", dta_id(), IDENTITY_PUB, chain().proof(0),
                             birth_record())
    return [Receipt(entry, proof, text).to_json(), Receipt(entry, proof, text, evidence).to_json(),
            Receipt(entry, proof, text, anchored).to_json(), birth_rec.to_json(),
            BirthReceipt("regtest", dta_id(), IDENTITY_PUB, chain().proof(0)).to_json()]


def authority_json() -> bytes:
    facts = {"dta_id": dta_id().hex(), "name": "Fuzz D-TA", "network": "regtest",
             "identity_pubkey": IDENTITY_PUB.hex(), "created": 1_764_000_000,
             "software_version": "dta/0.1.0"}
    return json.dumps(facts, indent=2).encode()
