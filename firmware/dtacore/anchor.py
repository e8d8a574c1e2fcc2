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

from dtacore.errors import DecodeError, ProtocolError

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


def encode_birth(dta_id):
    if len(dta_id) != 32:
        raise ProtocolError("D-TA id must be 32 bytes")
    return MARKER + bytes((VERSION, KIND_BIRTH)) + bytes(dta_id)


def encode_checkpoint(dta_id, sequence, tree_size, root):
    if len(dta_id) != 32 or len(root) != 32:
        raise ProtocolError("D-TA id and root must be 32 bytes")
    if sequence < 0 or sequence > MAX_U64 or tree_size < 0 or tree_size > MAX_U64:
        raise ProtocolError("sequence and tree size must fit 64 bits")
    return (MARKER + bytes((VERSION, KIND_CHECKPOINT)) + bytes(dta_id[:ID_PREFIX_LEN])
            + struct.pack(">QQ", sequence, tree_size) + bytes(root))


def decode(payload):
    # -> (kind, id_or_prefix, sequence, tree_size, root); sequence/tree_size/root None for birth.
    n = len(payload)
    if n < 6 or bytes(payload[0:4]) != MARKER:
        raise DecodeError("not a D-TA anchor: bad marker")
    if payload[4] != VERSION:
        raise DecodeError("unknown anchor version %d" % payload[4])
    kind = payload[5]
    if kind == KIND_BIRTH:
        if n != BIRTH_LEN:
            raise DecodeError("birth anchor must be %d bytes, got %d" % (BIRTH_LEN, n))
        return (kind, bytes(payload[6:38]), None, None, None)
    if kind == KIND_CHECKPOINT:
        if n != CHECKPOINT_LEN:
            raise DecodeError("checkpoint anchor must be %d bytes, got %d" % (CHECKPOINT_LEN, n))
        seq, size = struct.unpack(">QQ", bytes(payload[22:38]))
        return (kind, bytes(payload[6:22]), seq, size, bytes(payload[38:70]))
    raise DecodeError("unknown anchor kind %d" % kind)


def op_return_script(payload):
    # The output script carrying `payload`: OP_RETURN then one minimal push.
    n = len(payload)
    if n > MAX_PAYLOAD:
        raise ProtocolError("OP_RETURN payload is %d bytes, limit %d" % (n, MAX_PAYLOAD))
    if n <= 75:
        return bytes((OP_RETURN, n)) + bytes(payload)
    return bytes((OP_RETURN, OP_PUSHDATA1, n)) + bytes(payload)


def payload_of(script):
    # The pushed bytes of an OP_RETURN script with a single push, else None (not a data carrier).
    n = len(script)
    if n < 2 or script[0] != OP_RETURN:
        return None
    if script[1] <= 75:
        start, size = 2, script[1]
    elif script[1] == OP_PUSHDATA1 and n >= 3:
        start, size = 3, script[2]
    else:
        return None
    if start + size != n:
        return None
    return bytes(script[start:n])
