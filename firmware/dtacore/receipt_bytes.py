# The binary receipt a D-TA sends a device in MSG_RECEIPT parts (dtacore.channel), for host and
# device, and the checks the device runs on it (every link is a dtacore.receipt check).
#
#   receipt  = version u8 (1) | form u8 (1 pending, 2 anchored)
#              | entry (u16 len) | inclusion proof (u16 len) | checkpoint note, UTF-8 (u16 len)
#   anchored = ... | sequence u64 | anchoring tx (u16 len) | its gettxoutproof (u16 len)
#              | checkpoint height u32 | header count u8 | headers (count x 80)
#              | block index u8 | consistency u8 (0 none, 1 follows)
#              [ | anchored checkpoint note (u16 len) | consistency proof (u16 len) ]
#
# It is dta.receipt's JSON receipt without what the device knows already: the network, the D-TA
# id and its identity key come from the D-TA the device verified itself (dtacore.trust). The
# headers run from just after `checkpoint height` (a header the device trusts) to k
# confirmations of the anchor's block, which is headers[block index]. With `consistency` the
# entry's checkpoint was not anchored itself: the later checkpoint that was, and the RFC 9162
# proof that it extends the entry's. Decoding is strict: every length has a named limit,
# truncation and trailing bytes are DecodeError, flags are 0 or 1.

import struct
from collections import namedtuple

from dtacore.errors import DecodeError, EncodeError

VERSION = 1
FORM_PENDING = 1
FORM_ANCHORED = 2
HEADER_LEN = 80
# Entries are at most dtacore.entries.MAX_ENTRY_SIZE.
MAX_ENTRY = 1024
# An RFC 9162 proof in dtacore.merkle's encoding: 18 header bytes and at most 64 hashes.
MAX_PROOF = 18 + 64 * 32
# dtacore.note.MAX_NOTE_SIZE (characters; a note of the log's own is ASCII but for its dash).
MAX_NOTE = 4096 + 64
# An anchoring transaction: a few hundred bytes, room for top-up inputs (dtacore.trust.MAX_TX).
MAX_TX = 4096
# A gettxoutproof of the largest block (dtacore.trust.MAX_PROOF).
MAX_TXOUT_PROOF = 1024
# The headers after the device's trusted header: 64 (5 KiB) keep a receipt within
# dtacore.channel.MAX_RECEIPT with everything else; a device further behind asks again from a
# later trusted header (MSG_RECEIPT_REQUEST).
MAX_HEADERS = 64

Receipt = namedtuple("Receipt", ("entry", "proof", "note", "anchor"))
# anchor of an anchored receipt (None while pending); consistency_note and consistency_proof
# are None when the entry's checkpoint is the anchored one.
Anchor = namedtuple("Anchor", ("sequence", "tx", "txout_proof", "checkpoint_height", "headers",
                               "block_index", "consistency_note", "consistency_proof"))


def _var(data, limit, what, least=0):
    data = bytes(data)
    if not least <= len(data) <= limit:
        raise EncodeError("%s must be %d..%d bytes" % (what, least, limit))
    return struct.pack(">H", len(data)) + data


def _note(text):
    if not isinstance(text, str):
        raise EncodeError("a checkpoint note is text")
    return text.encode()


def encode(r):
    form = FORM_PENDING if r.anchor is None else FORM_ANCHORED
    out = (bytes((VERSION, form)) + _var(r.entry, MAX_ENTRY, "entry", 1)
           + _var(r.proof, MAX_PROOF, "proof", 1) + _var(_note(r.note), MAX_NOTE, "note", 1))
    if r.anchor is None:
        return out
    a = r.anchor
    n = len(a.headers) // HEADER_LEN
    if len(a.headers) % HEADER_LEN or not 0 <= a.block_index < n <= MAX_HEADERS:
        raise EncodeError("1..%d whole headers, the block index among them" % MAX_HEADERS)
    if not 0 <= a.sequence < 1 << 64 or not 0 <= a.checkpoint_height <= 0xFFFFFFFF:
        raise EncodeError("sequence 64 bits, checkpoint height 32 bits")
    out += (struct.pack(">Q", a.sequence) + _var(a.tx, MAX_TX, "transaction", 1)
            + _var(a.txout_proof, MAX_TXOUT_PROOF, "txout proof", 1)
            + struct.pack(">IB", a.checkpoint_height, n) + bytes(a.headers)
            + bytes((a.block_index,)))
    if (a.consistency_note is None) != (a.consistency_proof is None):
        raise EncodeError("a consistency link is a note and a proof")
    if a.consistency_note is None:
        return out + b"\x00"
    return (out + b"\x01" + _var(_note(a.consistency_note), MAX_NOTE, "anchored note", 1)
            + _var(a.consistency_proof, MAX_PROOF, "consistency proof", 1))


class _Reader:
    def __init__(self, data):
        self.data = memoryview(data)
        self.pos = 0

    def take(self, n):
        end = self.pos + n
        if end > len(self.data):
            raise DecodeError("receipt truncated")
        out = bytes(self.data[self.pos:end])
        self.pos = end
        return out

    def num(self, fmt, size):
        return struct.unpack(fmt, self.take(size))[0]

    def var(self, limit, what):
        n = self.num(">H", 2)
        if not 1 <= n <= limit:
            raise DecodeError("receipt %s of %d bytes, limit %d" % (what, n, limit))
        return self.take(n)

    def note(self, what):
        raw = self.var(MAX_NOTE, what)
        try:
            return raw.decode()
        except UnicodeError:
            raise DecodeError("receipt %s is not UTF-8" % what) from None

    def flag(self, what):
        b = self.take(1)[0]
        if b > 1:
            raise DecodeError("receipt %s flag %d, expected 0 or 1" % (what, b))
        return b


def decode(data):
    if len(data) < 2:
        raise DecodeError("receipt truncated")
    if data[0] != VERSION:
        raise DecodeError("receipt version %d, this is version %d" % (data[0], VERSION))
    if data[1] != FORM_PENDING and data[1] != FORM_ANCHORED:
        raise DecodeError("receipt form %d, expected 1 (pending) or 2 (anchored)" % data[1])
    r = _Reader(data)
    r.pos = 2
    entry = r.var(MAX_ENTRY, "entry")
    proof = r.var(MAX_PROOF, "proof")
    note = r.note("note")
    anchor = _anchor(r) if data[1] == FORM_ANCHORED else None
    if r.pos != len(data):
        raise DecodeError("receipt: %d trailing bytes" % (len(data) - r.pos))
    return Receipt(entry, proof, note, anchor)


def _anchor(r):
    seq = r.num(">Q", 8)
    tx = r.var(MAX_TX, "transaction")
    txout = r.var(MAX_TXOUT_PROOF, "txout proof")
    height = r.num(">I", 4)
    n = r.take(1)[0]
    if not 1 <= n <= MAX_HEADERS:
        raise DecodeError("receipt holds %d headers, expected 1..%d" % (n, MAX_HEADERS))
    headers = r.take(n * HEADER_LEN)
    index = r.take(1)[0]
    if index >= n:
        raise DecodeError("receipt block index %d past its %d headers" % (index, n))
    if not r.flag("consistency"):
        return Anchor(seq, tx, txout, height, headers, index, None, None)
    later = r.note("anchored note")
    return Anchor(seq, tx, txout, height, headers, index, later, r.var(MAX_PROOF,
                                                                       "consistency proof"))


def check_share_entry(r, dta_pubkey, subject, epoch, public_share, log_index, verify=None):
    # A share's receipt (either form) shows its ShareIssued entry: this subject, epoch and
    # public share, at the statement's log index, in a checkpoint signed by the D-TA's key.
    # -> (InclusionProof, Checkpoint)
    from dtacore import entries
    from dtacore.receipt import LINK_ENTRY, LinkError, check_entry
    verify = _verifier(verify)
    entry, p, cp = check_entry(r.entry, r.proof, r.note, dta_pubkey, verify=verify)
    if (not isinstance(entry, entries.ShareIssued) or entry.subject != bytes(subject)
            or entry.epoch != epoch or entry.public_share != bytes(public_share)):
        raise LinkError(LINK_ENTRY, "the entry is not this share's ShareIssued entry")
    if p.index != log_index:
        raise LinkError(LINK_ENTRY, "the entry is at index %d, the statement names %d"
                        % (p.index, log_index))
    return p, cp


def check_anchored(r, dta_id, dta_pubkey, trusted_header, trusted_height, net, k, verify=None):
    # The Bitcoin half of an anchored receipt whose entry check_share_entry (or check_entry)
    # accepted: consistency (if any), anchor signer, payload, transaction in block, header
    # chain from the device's trusted header, confirmations. -> the anchor block's height
    from dtacore import receipt as links
    verify = _verifier(verify)
    a = r.anchor
    if a is None:
        raise links.LinkError(links.LINK_PAYLOAD, "the receipt is pending, not anchored")
    cp = links.within(links.LINK_CHECKPOINT, _checkpoint, r.note)
    if a.consistency_note is not None:
        cp = links.check_consistency(cp, a.consistency_note, a.consistency_proof, dta_pubkey,
                                     verify=verify)
    txid = links.check_checkpoint_anchor(a.tx, dta_pubkey, dta_id, a.sequence, cp)
    links.check_in_block(txid, a.txout_proof, a.headers, a.block_index)
    links.check_header_chain(trusted_header, trusted_height, a.headers, a.checkpoint_height, net)
    links.check_confirmations(len(a.headers) // HEADER_LEN, a.block_index, k)
    return a.checkpoint_height + 1 + a.block_index


def _verifier(verify):
    # The backend's ECDSA verification unless the caller brings one: coincurve on the host, the
    # pure modules on a device (dtacore.note's own default is always the pure one).
    if verify is None:
        from dtacore.backend import verify
    return verify


def _checkpoint(note_text):
    from dtacore import note
    return note.parse_checkpoint(note_text)

