# A device's own check of a D-TA's birth, and the bundle a D-TA sends for it (host and device).
#
# The device trusts a D-TA key only after it has checked, with SHA-256 alone: the Birth Record
# hashes to a D-TA id it was provisioned with and names its network; the record's identity key
# spends the Birth Record transaction (parsed here, txid computed here) whose OP_RETURN is the
# birth payload of that id; the transaction is in a block by merkle proof; that block is on a
# header chain linked from a header the device already trusts (its checkpoint, or a tip it
# verified before), with proof of work against the network's limit, and has at least k
# confirmations. Headers are streamed: memory stays constant however long the chain.
#
# Bundle part = kind u8 | body, sent in this order (parts of one kind may be split over
# several consecutive parts, which concatenate):
#   PART_RECORD  the Birth Record             PART_TX      the raw birth transaction
#   PART_PROOF   its gettxoutproof            PART_HEADERS 1..MAX_PART_HEADERS headers, in order
#   PART_END     no body: the bundle is complete
# The headers follow the device's trusted header (from_height), up to the D-TA node's tip.

from collections import namedtuple

from dtacore.errors import DecodeError
from dtacore.receipt import (
    LINK_BIRTH,
    LINK_BLOCK,
    LINK_CONFIRMATIONS,
    LINK_HEADERS,
    LinkError,
    within,
)

PART_RECORD = 1
PART_TX = 2
PART_PROOF = 3
PART_HEADERS = 4
PART_END = 5
HEADER_LEN = 80
# Five headers (400 bytes) fit one 512-byte frame with its routing and the part kind.
MAX_PART_HEADERS = 5
# Upper bounds for the concatenated single parts: a Birth Record (dtacore.birth.MAX_LEN is
# 230), an anchoring transaction (a few hundred bytes; 4 KiB leaves room for top-up inputs),
# a gettxoutproof of the largest block (80 + 4 + 3 + 15 levels of hashes, flags).
MAX_RECORD = 256
MAX_TX = 4096
MAX_PROOF = 1024
_LIMITS = {PART_RECORD: MAX_RECORD, PART_TX: MAX_TX, PART_PROOF: MAX_PROOF}
# The parts each part may follow: record, transaction, proof, any headers, the end.
_NEXT = {0: (PART_RECORD,), PART_RECORD: (PART_TX,), PART_TX: (PART_PROOF,),
         PART_PROOF: (PART_HEADERS, PART_END), PART_HEADERS: (PART_HEADERS, PART_END)}

# What the device keeps of a D-TA it has checked: the key it may use for handshakes, where the
# birth is, and the verified tip it reached (to store as its new trusted header).
VerifiedDta = namedtuple("VerifiedDta", ("dta_id", "identity_pubkey", "birth_height",
                                         "tip_height", "tip_header"))


def encode_parts(record, tx, proof, headers):
    # Host side: the bundle's parts, each fitting one frame. headers: n*80 bytes.
    out = [bytes((PART_RECORD,)) + bytes(record), bytes((PART_TX,)) + bytes(tx)]
    for i in range(0, len(proof), 480):
        out.append(bytes((PART_PROOF,)) + bytes(proof[i:i + 480]))
    step = MAX_PART_HEADERS * HEADER_LEN
    for i in range(0, len(headers), step):
        out.append(bytes((PART_HEADERS,)) + bytes(headers[i:i + step]))
    out.append(bytes((PART_END,)))
    return out


class BirthCheck:
    # feed(part) for each part in order; then result() -> VerifiedDta. Any broken link raises
    # LinkError naming it; after an error the check is dead (a new bundle starts a new one).
    def __init__(self, dta_id, net, k, trusted_header, trusted_height):
        from dtacore import spv
        self.dta_id = bytes(dta_id)
        self.net = net
        self.k = k
        self.tip = within(LINK_HEADERS, spv.ChainTip, trusted_header, trusted_height, net)
        self.kind = 0  # nothing yet: the record comes first
        self.buf = bytearray()
        self.record = None
        self.txid = None
        self.block = None
        self.found = -1
        self.last = bytes(trusted_header)
        self.done = False

    def feed(self, part):
        if self.done or not part:
            raise DecodeError("trust bundle: a part after the end, or an empty part")
        kind = part[0]
        if kind == self.kind and kind in _LIMITS:
            self._collect(part)
            return
        if kind not in _NEXT.get(self.kind, ()):
            raise DecodeError("trust bundle: part %d cannot follow part %d" % (kind, self.kind))
        if self.kind in _LIMITS:
            self._finish(self.kind)
        self.kind = kind
        if kind in _LIMITS:
            self._collect(part)
        elif kind == PART_HEADERS:
            self._headers(memoryview(part)[1:])
        else:
            self.done = True

    def _collect(self, part):
        if len(self.buf) + len(part) - 1 > _LIMITS[self.kind]:
            raise DecodeError("trust bundle: part %d over its limit" % self.kind)
        self.buf.extend(memoryview(part)[1:])

    def _finish(self, kind):
        data = bytes(self.buf)
        self.buf = bytearray()
        if kind == PART_RECORD:
            self._record(data)
        elif kind == PART_TX:
            from dtacore.receipt import check_birth_anchor
            self.txid = check_birth_anchor(data, self.record.identity_pubkey, self.dta_id)
        else:
            from dtacore import spv
            self.block = spv.header_hash(within(LINK_BLOCK, spv.tx_in_proof, self.txid, data))

    def _record(self, data):
        from dtacore import birth
        rec = within(LINK_BIRTH, birth.decode, data)
        if birth.dta_id(data) != self.dta_id:
            raise LinkError(LINK_BIRTH, "the Birth Record does not hash to this D-TA id")
        if rec.network != self.net.name:
            raise LinkError(LINK_BIRTH, "the D-TA was born on %s, this device follows %s"
                            % (rec.network, self.net.name))
        self.record = rec

    def _headers(self, data):
        n = len(data)
        if n == 0 or n % HEADER_LEN or n > MAX_PART_HEADERS * HEADER_LEN:
            raise DecodeError("trust bundle: a headers part holds 1..%d whole headers"
                              % MAX_PART_HEADERS)
        for i in range(0, n, HEADER_LEN):
            h = data[i:i + HEADER_LEN]
            if within(LINK_HEADERS, self.tip.add, h) == self.block:
                self.found = self.tip.height
        self.last = bytes(data[n - HEADER_LEN:n])

    def result(self):
        if not self.done:
            raise DecodeError("trust bundle incomplete")
        if self.found < 0:
            raise LinkError(LINK_BLOCK, "the birth block is not on the header chain from the "
                            "device's trusted header (another fork, or before it)")
        conf = self.tip.height - self.found + 1
        if conf < self.k:
            raise LinkError(LINK_CONFIRMATIONS, "the birth has %d confirmations, %d required"
                            % (conf, self.k))
        return VerifiedDta(self.dta_id, bytes(self.record.identity_pubkey), self.found,
                           self.tip.height, self.last)
