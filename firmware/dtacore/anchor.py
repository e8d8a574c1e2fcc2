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
from dtacore.spv import varint as _varint

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


# -- reading an anchoring transaction ---------------------------------------------------------
# Enough of the Bitcoin transaction format (BIP 144 for witness) to find the txid, the spent
# outpoints, the outputs and the first input's witness stack. Limits keep hostile input small.
MAX_TX_SIZE = 100000
MAX_IO = 1000


def _take(buf, pos, n):
    if n < 0 or pos + n > len(buf):
        raise DecodeError("transaction truncated")
    return bytes(buf[pos:pos + n]), pos + n


def parse_tx(raw):
    # -> (txid, inputs [(prev_txid, vout, sequence)], outputs [(value, script)], witness of input 0)
    # txids in internal byte order. Raises DecodeError on anything malformed or trailing.
    import hashlib
    if len(raw) > MAX_TX_SIZE or len(raw) < 10:
        raise DecodeError("transaction size out of range")
    segwit = raw[4] == 0 and raw[5] == 1
    pos = 6 if segwit else 4
    body_start = pos
    n_in, pos = _varint(raw, pos)
    if n_in == 0 or n_in > MAX_IO:
        raise DecodeError("transaction input count out of range")
    inputs = []
    for _ in range(n_in):
        prev, pos = _take(raw, pos, 36)
        slen, pos = _varint(raw, pos)
        _, pos = _take(raw, pos, slen)
        seq, pos = _take(raw, pos, 4)
        inputs.append((prev[0:32], struct.unpack("<I", prev[32:36])[0], struct.unpack("<I", seq)[0]))
    n_out, pos = _varint(raw, pos)
    if n_out > MAX_IO:
        raise DecodeError("transaction output count out of range")
    outputs = []
    for _ in range(n_out):
        value, pos = _take(raw, pos, 8)
        slen, pos = _varint(raw, pos)
        script, pos = _take(raw, pos, slen)
        outputs.append((struct.unpack("<q", value)[0], script))
    body_end = pos
    witness0 = []
    if segwit:
        for i in range(n_in):
            items, pos = _varint(raw, pos)
            for _ in range(items):
                ilen, pos = _varint(raw, pos)
                item, pos = _take(raw, pos, ilen)
                if i == 0:
                    witness0.append(item)
    if pos + 4 != len(raw):
        raise DecodeError("transaction has trailing bytes or is truncated")
    stripped = bytes(raw[0:4]) + bytes(raw[body_start:body_end]) + bytes(raw[pos:pos + 4])
    txid = hashlib.sha256(hashlib.sha256(stripped).digest()).digest()
    return txid, inputs, outputs, witness0


def find_payload(outputs):
    # The first OP_RETURN data push among parsed outputs, or None.
    for _, script in outputs:
        data = payload_of(script)
        if data is not None:
            return data
    return None


def check_birth_tx(raw, dta_id, pubkey):
    # The device's check that `pubkey` anchored D-TA `dta_id`: the transaction's first input is
    # spent by that key (P2WPKH witness [sig, pubkey]) and its OP_RETURN is the birth payload.
    # The signature itself was checked by every node that accepted the block: with the txid in a
    # block k deep (dtacore.spv), the witness key is the key that controlled the funds.
    # -> txid (internal byte order), to look up in a merkle proof.
    txid, inputs, outputs, witness = parse_tx(raw)
    if len(witness) != 2 or bytes(witness[1]) != bytes(pubkey):
        raise DecodeError("birth transaction is not spent by this identity key")
    data = find_payload(outputs)
    if data is None:
        raise DecodeError("birth transaction has no OP_RETURN")
    kind, ident, _, _, _ = decode(data)
    if kind != KIND_BIRTH or ident != bytes(dta_id):
        raise DecodeError("OP_RETURN is not the birth anchor of this D-TA id")
    return txid
