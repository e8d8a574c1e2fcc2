# The OP_RETURN payload that fixes a D-TA's Birth Record and its log checkpoints in Bitcoin.
# One definition for host (builds the transactions, verifies receipts) and device (checks that a
# D-TA key's Birth Record transaction is what it claims). Layout, byte by byte: docs/anchoring.md.
#
#   offset size  field
#   0      4     marker "D-TA" (tags every anchoring transaction of every D-TA)
#   4      1     version = 1
#   5      1     kind: 1 = birth, 2 = checkpoint
#   birth (38 bytes in all):
#   6      32    D-TA id = SHA-256(Birth Record)
#   checkpoint (70 bytes in all):
#   6      16    D-TA id prefix (first 16 bytes: enough to tell D-TAs apart, fits 80 bytes)
#   22     8     checkpoint sequence number, big-endian
#   30     8     tree size, big-endian
#   38     32    tree root hash

import struct
from collections import namedtuple

from dtacore.errors import DecodeError, EncodeError, VerifyError

MARKER = b"D-TA"
VERSION = 1
KIND_BIRTH = 1
KIND_CHECKPOINT = 2
ID_PREFIX_LEN = 16
BIRTH_LEN = 38
CHECKPOINT_LEN = 70
# Bitcoin Core's default -datacarriersize: 83 script bytes = OP_RETURN, OP_PUSHDATA1, len, 80.
# Larger carrier outputs are non-standard and would never relay.
MAX_PAYLOAD = 80
MAX_U64 = 0xFFFFFFFFFFFFFFFF
OP_RETURN = 0x6A
OP_PUSHDATA1 = 0x4C
# Pushes up to this length are one opcode byte (the length itself); longer need OP_PUSHDATA1.
MAX_DIRECT_PUSH = 75
# What the encoders take as bytes (one tuple, so a check allocates nothing).
_BYTES = (bytes, bytearray, memoryview)

# Decoded payloads: immutable, with named fields. kind is KIND_BIRTH or KIND_CHECKPOINT.
BirthAnchor = namedtuple("BirthAnchor", ("kind", "dta_id"))
CheckpointAnchor = namedtuple("CheckpointAnchor",
                              ("kind", "id_prefix", "sequence", "tree_size", "root"))


def _hash32(b):
    return isinstance(b, _BYTES) and len(b) == 32


def _u64(n):
    return type(n) is int and 0 <= n <= MAX_U64


def encode_birth(dta_id):
    if not _hash32(dta_id):
        raise EncodeError("D-TA id must be 32 bytes")
    return MARKER + bytes((VERSION, KIND_BIRTH)) + bytes(dta_id)


def encode_checkpoint(dta_id, sequence, tree_size, root):
    if not _hash32(dta_id) or not _hash32(root):
        raise EncodeError("D-TA id and root must be 32 bytes")
    if not _u64(sequence) or not _u64(tree_size):
        raise EncodeError("sequence and tree size must be integers of 64 bits")
    return (MARKER + bytes((VERSION, KIND_CHECKPOINT)) + bytes(dta_id[:ID_PREFIX_LEN])
            + struct.pack(">QQ", sequence, tree_size) + bytes(root))


def decode(payload):
    # -> BirthAnchor or CheckpointAnchor; DecodeError for anything else.
    n = len(payload)
    if n < 6 or bytes(payload[0:4]) != MARKER:
        raise DecodeError("not a D-TA anchor: bad marker")
    if payload[4] != VERSION:
        raise DecodeError("unknown anchor version %d" % payload[4])
    kind = payload[5]
    if kind == KIND_BIRTH:
        if n != BIRTH_LEN:
            raise DecodeError("birth anchor must be %d bytes, got %d" % (BIRTH_LEN, n))
        return BirthAnchor(kind, bytes(payload[6:38]))
    if kind == KIND_CHECKPOINT:
        if n != CHECKPOINT_LEN:
            raise DecodeError("checkpoint anchor must be %d bytes, got %d" % (CHECKPOINT_LEN, n))
        seq, size = struct.unpack(">QQ", bytes(payload[22:38]))
        return CheckpointAnchor(kind, bytes(payload[6:22]), seq, size, bytes(payload[38:70]))
    raise DecodeError("unknown anchor kind %d" % kind)


def op_return_script(payload):
    # The output script carrying `payload`: OP_RETURN then one minimal push.
    if not isinstance(payload, _BYTES):
        raise EncodeError("OP_RETURN payload must be bytes")
    n = len(payload)
    if n > MAX_PAYLOAD:
        raise EncodeError("OP_RETURN payload is %d bytes, limit %d" % (n, MAX_PAYLOAD))
    if n <= MAX_DIRECT_PUSH:
        return bytes((OP_RETURN, n)) + bytes(payload)
    return bytes((OP_RETURN, OP_PUSHDATA1, n)) + bytes(payload)


def payload_of(script):
    # The pushed bytes of an OP_RETURN script with a single push, else None (not a data carrier).
    n = len(script)
    if n < 2 or script[0] != OP_RETURN:
        return None
    if script[1] <= MAX_DIRECT_PUSH:
        start, size = 2, script[1]
    elif script[1] == OP_PUSHDATA1 and n >= 3:
        start, size = 3, script[2]
    else:
        return None
    if start + size != n:
        return None
    return bytes(script[start:n])


def find_payload(outputs):
    # The first OP_RETURN data push among a transaction's outputs (TxOut or (value, script)
    # pairs), or None. The one OP_RETURN extractor: host and device, parsed or RPC-decoded.
    for out in outputs:
        data = payload_of(out[1])
        if data is not None:
            return data
    return None


def signed_tx(raw, pubkey):
    # Parse the transaction (dtacore.bitcoin computes its txid from these bytes) and check its
    # first input is spent by `pubkey` (P2WPKH witness [sig, pubkey]). The signature itself was
    # checked by every node that accepted the block: with the txid in a block k deep
    # (dtacore.spv), the witness key is the key that controlled the funds. -> Transaction
    from dtacore.bitcoin import parse_tx
    tx = parse_tx(raw)
    if len(tx.witness0) != 2 or bytes(tx.witness0[1]) != bytes(pubkey):
        raise VerifyError("the transaction is not spent by this identity key")
    return tx


def payload_in(tx):
    # The decoded anchor payload of a parsed transaction's first OP_RETURN.
    data = find_payload(tx.outputs)
    if data is None:
        raise DecodeError("the transaction has no OP_RETURN payload")
    return decode(data)


def match_birth(payload, dta_id):
    if payload.kind != KIND_BIRTH or payload.dta_id != bytes(dta_id):
        raise VerifyError("the OP_RETURN is not the birth anchor of this D-TA id")


def match_checkpoint(payload, dta_id, sequence, tree_size, root):
    if payload.kind != KIND_CHECKPOINT:
        raise VerifyError("the OP_RETURN is not a checkpoint anchor")
    for name, want, got in (("D-TA id", bytes(dta_id[:ID_PREFIX_LEN]), payload.id_prefix),
                            ("sequence", sequence, payload.sequence),
                            ("tree size", tree_size, payload.tree_size),
                            ("root", bytes(root), payload.root)):
        if want != got:
            raise VerifyError(name + " in the OP_RETURN does not match the checkpoint",
                              expected=want, got=got)
