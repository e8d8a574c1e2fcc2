# Bitcoin's serialization as far as the verifiers need it, for host and device: sha256d, byte
# reversal, CompactSize, and the transaction format (BIP 144 witness) far enough to compute the
# txid, list the spent outpoints and the outputs, and read the first input's witness stack.
# Hashes are in Bitcoin's internal byte order; RPC shows txids and block hashes reversed.

import hashlib
import struct
from collections import namedtuple

from dtacore.errors import DecodeError

# Limits that keep hostile input small: an anchoring transaction is a few hundred bytes.
MAX_TX_SIZE = 100000  # Core's standardness limit on a transaction's weight / 4
MAX_IO = 1000  # inputs or outputs: far above any anchor (1-3 inputs, 2 outputs)
# A transaction whose non-witness serialization is exactly 64 bytes hashes like an inner node of
# a block's merkle tree, so a merkle branch could "prove" a 64-byte string made of two child
# hashes (CVE-2017-12842). No real transaction is that small (Core's policy floor is 65 bytes);
# the parser refuses it, so a txid it returns can only be a leaf.
AMBIGUOUS_TX_SIZE = 64

TxIn = namedtuple("TxIn", ("prev_txid", "vout", "sequence"))
TxOut = namedtuple("TxOut", ("value", "script"))
# txid is computed by the parser from the bytes it parsed, never taken from outside.
Transaction = namedtuple("Transaction", ("txid", "inputs", "outputs", "witness0"))


def sha256d(data):
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def reverse(data):
    # bytes[::-1] is not in MicroPython
    n = len(data)
    out = bytearray(n)
    for i in range(n):
        out[i] = data[n - 1 - i]
    return bytes(out)


def varint(buf, pos):
    # Bitcoin CompactSize at buf[pos]: (value, next position).
    if pos >= len(buf):
        raise DecodeError("truncated varint")
    first = buf[pos]
    if first < 0xFD:
        return first, pos + 1
    size = 2 if first == 0xFD else (4 if first == 0xFE else 8)
    if pos + 1 + size > len(buf):
        raise DecodeError("truncated varint")
    return int.from_bytes(bytes(buf[pos + 1:pos + 1 + size]), "little"), pos + 1 + size


def _take(buf, pos, n):
    if n < 0 or pos + n > len(buf):
        raise DecodeError("transaction truncated")
    return bytes(buf[pos:pos + n]), pos + n


def _inputs(raw, pos):
    n_in, pos = varint(raw, pos)
    if n_in == 0 or n_in > MAX_IO:
        raise DecodeError("transaction input count out of range")
    inputs = []
    for _ in range(n_in):
        prev, pos = _take(raw, pos, 36)
        slen, pos = varint(raw, pos)
        _, pos = _take(raw, pos, slen)
        seq, pos = _take(raw, pos, 4)
        inputs.append(TxIn(prev[0:32], struct.unpack("<I", prev[32:36])[0],
                           struct.unpack("<I", seq)[0]))
    return inputs, pos


def _outputs(raw, pos):
    n_out, pos = varint(raw, pos)
    if n_out > MAX_IO:
        raise DecodeError("transaction output count out of range")
    outputs = []
    for _ in range(n_out):
        value, pos = _take(raw, pos, 8)
        slen, pos = varint(raw, pos)
        script, pos = _take(raw, pos, slen)
        outputs.append(TxOut(struct.unpack("<q", value)[0], script))
    return outputs, pos


def _witnesses(raw, pos, n_in):
    # Every input's stack is read (to find the end); only input 0's is kept. A segwit marker
    # with every stack empty is refused, as Core refuses it ("superfluous witness record"): the
    # same transaction has one serialization only, without the marker.
    witness0 = []
    any_items = False
    for i in range(n_in):
        items, pos = varint(raw, pos)
        any_items = any_items or items > 0
        for _ in range(items):
            ilen, pos = varint(raw, pos)
            item, pos = _take(raw, pos, ilen)
            if i == 0:
                witness0.append(item)
    if not any_items:
        raise DecodeError("segwit marker but no witness (a superfluous witness record)")
    return witness0, pos


def parse_tx(raw):
    # Strict: truncation, trailing bytes, out-of-range counts and the 64-byte ambiguity are
    # DecodeError. -> Transaction with the txid of the non-witness serialization.
    if len(raw) > MAX_TX_SIZE or len(raw) < 10:
        raise DecodeError("transaction size out of range")
    segwit = raw[4] == 0 and raw[5] == 1
    pos = 6 if segwit else 4
    body_start = pos
    inputs, pos = _inputs(raw, pos)
    outputs, pos = _outputs(raw, pos)
    body_end = pos
    witness0 = []
    if segwit:
        witness0, pos = _witnesses(raw, pos, len(inputs))
    if pos + 4 != len(raw):
        raise DecodeError("transaction has trailing bytes or is truncated")
    stripped = bytes(raw[0:4]) + bytes(raw[body_start:body_end]) + bytes(raw[pos:pos + 4])
    if len(stripped) == AMBIGUOUS_TX_SIZE:
        raise DecodeError("a 64-byte transaction is refused: it could be a merkle tree node")
    return Transaction(sha256d(stripped), inputs, outputs, witness0)
