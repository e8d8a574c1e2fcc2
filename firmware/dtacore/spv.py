# SPV checks shared by device and host: block headers (target from nBits, proof of work against
# the network's limit), a header chain linked from a checkpoint provisioned at flash time, k
# confirmations, and a transaction's merkle branch (a simple branch, or a gettxoutproof partial
# merkle tree). Every header check takes the network's pow_limit (dtacore.network): a header
# that meets its own nBits but is easier than the network allows is refused.
#
# Hashes are in Bitcoin's internal byte order (as in headers); RPC shows them reversed.
# Every failure is a VerifyError (the bytes parse but do not check) or DecodeError (they do not
# parse), with a message that names the broken link.

import struct

from dtacore.bitcoin import sha256d, varint
from dtacore.errors import DecodeError, VerifyError

HEADER_LEN = 80
# Difficulty may change only at multiples of this height, by at most a factor of 4 (consensus).
RETARGET_INTERVAL = 2016
# A block holds at most 4,000,000 weight units / 240 per smallest transaction (Core's bound).
MAX_BLOCK_TXS = 16666
# More headers than this in one proof is not a receipt but a resync; bounds work and memory.
MAX_HEADERS = 5000
# Seconds after its parent from which a testnet block may have the minimum difficulty.
MIN_DIFFICULTY_GAP = 1200


class SpvError(VerifyError):
    # A header, chain or merkle proof that does not check.
    pass


def header_hash(header):
    return sha256d(header)


def prev_hash(header):
    return bytes(header[4:36])


def merkle_root(header):
    return bytes(header[36:68])


def header_bits(header):
    return struct.unpack("<I", bytes(header[72:76]))[0]


def header_time(header):
    return struct.unpack("<I", bytes(header[68:72]))[0]


def target_from_bits(bits):
    # Compact encoding: 1-byte exponent, 3-byte mantissa with a sign bit. Negative, zero or
    # over-256-bit targets are invalid for proof of work.
    exp = bits >> 24
    mant = bits & 0x7FFFFF
    if bits & 0x800000:
        raise SpvError("nBits encodes a negative target", got=bits)
    if exp <= 3:
        target = mant >> (8 * (3 - exp))
    else:
        if mant and (exp > 34 or (mant > 0xFF and exp > 33) or (mant > 0xFFFF and exp > 32)):
            raise SpvError("nBits target overflows 256 bits", got=bits)
        target = mant << (8 * (exp - 3))
    if target == 0:
        raise SpvError("nBits encodes a zero target", got=bits)
    return target


def check_pow(header, pow_limit):
    # -> the header's hash if it meets its own target and that target is no easier than the
    # network's pow_limit.
    if len(header) != HEADER_LEN:
        raise DecodeError("a block header is 80 bytes")
    h = header_hash(header)
    target = target_from_bits(header_bits(header))
    if target > pow_limit:
        raise SpvError("proof of work: the header's target is easier than the network allows",
                       expected=pow_limit, got=target)
    if int.from_bytes(h, "little") > target:
        raise SpvError("proof of work: header hash above its target", expected=target,
                          got=int.from_bytes(h, "little"))
    return h


def _check_retarget(old_bits, new_bits, height):
    if height % RETARGET_INTERVAL:
        raise SpvError("header chain: difficulty changed outside a retarget height",
                          expected=old_bits, got=new_bits)
    old_t = target_from_bits(old_bits)
    new_t = target_from_bits(new_bits)
    if new_t > old_t * 4 or new_t < old_t // 4:
        raise SpvError("header chain: retarget by more than a factor of 4",
                          expected=old_bits, got=new_bits)


class ChainTip:
    # A header chain followed one header at a time from a trusted checkpoint, in constant
    # memory: only the tip's hash, height, time and nBits are kept (and, on a network with
    # minimum-difficulty blocks, the last real nBits). A device streams headers in.
    def __init__(self, checkpoint, checkpoint_height, net):
        # net: a dtacore.network.Network (its pow_limit and min_difficulty rule).
        if len(checkpoint) != HEADER_LEN:
            raise DecodeError("checkpoint header must be 80 bytes")
        self.net = net
        self.hash = header_hash(checkpoint)
        self.height = checkpoint_height
        self.bits = header_bits(checkpoint)
        self.real_bits = self.bits
        self.time = header_time(checkpoint)

    def _special(self, header, b):
        # testnet's minimum-difficulty block: the pow_limit target, 20 minutes after its parent.
        return (self.net.min_difficulty and target_from_bits(b) == self.net.pow_limit
                and header_time(header) > self.time + MIN_DIFFICULTY_GAP)

    def _check_bits(self, header, b, height):
        if not self.net.min_difficulty:
            if b != self.bits:
                _check_retarget(self.bits, b, height)
            return
        # testnet: off a retarget height a block keeps the last real difficulty or is a
        # minimum-difficulty block; at one it retargets from the last real difficulty.
        if self._special(header, b) or b == self.real_bits:
            return
        if height % RETARGET_INTERVAL:
            raise SpvError("header chain: difficulty changed outside a retarget height",
                           expected=self.real_bits, got=b)
        _check_retarget(self.real_bits, b, height)

    def add(self, header):
        # -> the new tip's hash; raises SpvError naming the height on any broken link.
        if len(header) != HEADER_LEN:
            raise DecodeError("a block header is 80 bytes")
        height = self.height + 1
        if bytes(header[4:36]) != self.hash:
            raise SpvError("header chain: header at height %d does not link to its parent"
                           % height, expected=self.hash, got=bytes(header[4:36]))
        b = header_bits(header)
        self._check_bits(header, b, height)
        self.hash = check_pow(header, self.net.pow_limit)
        if not self._special(header, b):
            self.real_bits = b
        self.bits = b
        self.time = header_time(header)
        self.height = height
        return self.hash


def verify_chain(checkpoint, headers, checkpoint_height, net):
    # checkpoint: the trusted 80-byte header; headers: the n*80 bytes that follow it, in order;
    # net: the dtacore.network.Network they belong to. Checks linkage, proof of work against
    # the network's limit and difficulty continuity; returns the tip's hash.
    n = len(headers) // HEADER_LEN
    if len(headers) % HEADER_LEN:
        raise DecodeError("header chain is not a whole number of 80-byte headers")
    if n > MAX_HEADERS:
        raise DecodeError("header chain longer than %d" % MAX_HEADERS)
    tip = ChainTip(checkpoint, checkpoint_height, net)
    mv = memoryview(headers)
    for i in range(n):
        tip.add(mv[i * HEADER_LEN:(i + 1) * HEADER_LEN])
    return tip.hash


def verify_confirmed(txid, proof, checkpoint, checkpoint_height, headers, k, net):
    # The whole Bitcoin half of a proof in one call: `txid` (computed by the caller from the
    # raw transaction, dtacore.bitcoin) is in the block of `proof`, that block is in `headers`
    # (which follow the trusted checkpoint on network `net`) and has at least k confirmations
    # in them. -> the block's height.
    want = header_hash(tx_in_proof(txid, proof))
    if len(headers) % HEADER_LEN or len(headers) // HEADER_LEN > MAX_HEADERS:
        raise DecodeError("header chain is not a whole number of 80-byte headers")
    tip = ChainTip(checkpoint, checkpoint_height, net)
    mv = memoryview(headers)
    found = -1
    for i in range(len(headers) // HEADER_LEN):
        if tip.add(mv[i * HEADER_LEN:(i + 1) * HEADER_LEN]) == want:
            found = tip.height
    if found < 0:
        raise SpvError("transaction in block: the proof's block is not in the header chain")
    conf = tip.height - found + 1
    if conf < k:
        raise SpvError("confirmations: %d, %d required" % (conf, k))
    return found


def confirmations(n_headers, block_index):
    # The block at position block_index of a chain of n_headers has this many confirmations.
    return n_headers - block_index


def root_from_branch(txid, branch, index):
    # A simple merkle branch (siblings from the leaf up) and the transaction's position.
    if index < 0 or index >= MAX_BLOCK_TXS:
        raise DecodeError("transaction index out of range")
    h = bytes(txid)
    for sib in branch:
        if len(sib) != 32:
            raise DecodeError("merkle branch hashes are 32 bytes")
        if index & 1:
            h = sha256d(bytes(sib) + h)
        else:
            h = sha256d(h + bytes(sib))
        index >>= 1
    if index:
        raise SpvError("merkle branch shorter than the transaction index needs")
    return h


def _width(total, height):
    return (total + (1 << height) - 1) >> height


class _Walk:
    # State of one partial-merkle-tree traversal (BIP 37 order: depth first, left to right).
    def __init__(self, hashes, flags, total):
        self.hashes = hashes
        self.flags = flags
        self.total = total
        self.hash_i = 0
        self.bit_i = 0
        self.matched = []

    def bit(self):
        if self.bit_i >= len(self.flags) * 8:
            raise DecodeError("partial merkle tree: ran out of flag bits")
        b = (self.flags[self.bit_i >> 3] >> (self.bit_i & 7)) & 1
        self.bit_i += 1
        return b

    def hash(self):
        if self.hash_i >= len(self.hashes):
            raise DecodeError("partial merkle tree: ran out of hashes")
        h = self.hashes[self.hash_i]
        self.hash_i += 1
        return h

    def node(self, height, pos):
        flag = self.bit()
        if height == 0 or not flag:
            h = self.hash()
            if height == 0 and flag:
                self.matched.append((h, pos))
            return h
        left = self.node(height - 1, pos * 2)
        if pos * 2 + 1 < _width(self.total, height - 1):
            right = self.node(height - 1, pos * 2 + 1)
            if right == left:
                # duplicated subtrees make two trees with one root (CVE-2012-2459)
                raise SpvError("partial merkle tree: identical sibling subtrees")
        else:
            right = left
        return sha256d(left + right)


def parse_txout_proof(proof):
    # gettxoutproof bytes: header(80) | u32 total txs | varint n + n*32 hashes | varint m + m flags.
    # -> (header, [(txid, index), ...]) after checking the tree's root is the header's merkle root.
    if len(proof) < HEADER_LEN + 4:
        raise DecodeError("txout proof truncated")
    header = bytes(proof[0:HEADER_LEN])
    total = struct.unpack("<I", bytes(proof[80:84]))[0]
    if total == 0 or total > MAX_BLOCK_TXS:
        raise DecodeError("txout proof: transaction count out of range")
    n, pos = varint(proof, 84)
    if n > total or pos + 32 * n > len(proof):
        raise DecodeError("txout proof: bad hash count")
    hashes = [bytes(proof[pos + 32 * i:pos + 32 * i + 32]) for i in range(n)]
    pos += 32 * n
    m, pos = varint(proof, pos)
    if pos + m != len(proof):
        raise DecodeError("txout proof: flag bytes do not end the proof")
    walk = _Walk(hashes, bytes(proof[pos:pos + m]), total)
    height = 0
    while _width(total, height) > 1:
        height += 1
    root = walk.node(height, 0)
    if walk.hash_i != n or (walk.bit_i + 7) // 8 != m:
        raise DecodeError("txout proof: unused hashes or flag bytes")
    if root != merkle_root(header):
        raise SpvError("transaction in block: merkle tree root is not the header's merkle root",
                          expected=merkle_root(header), got=root)
    return header, walk.matched


def tx_in_proof(txid, proof):
    # -> the block header if `txid` (internal order) is a matched leaf of the proof.
    header, matched = parse_txout_proof(proof)
    for h, _ in matched:
        if h == txid:
            return header
    raise SpvError("transaction in block: txid is not in the merkle proof", expected=txid)
