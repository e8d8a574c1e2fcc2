# Receipt checks for host and device: every link of a receipt (docs/log.md, docs/anchoring.md)
# is recomputed and compared by the module that defines its format, in the order a receipt
# chains them; a failure is a LinkError that names the link. `dta verify` and the device run
# these same functions (the host adds one trust root of its own: headers compared with a node).
# Modules load lazily, per check, so a device that only checks log links never loads SPV.

from dtacore.errors import ProtocolError, VerifyError

LINK_BIRTH = "birth record"
LINK_ENTRY = "entry"
LINK_INCLUSION = "inclusion proof"
LINK_CHECKPOINT = "checkpoint signature"
LINK_CONSISTENCY = "consistency proof"
LINK_SIGNER = "anchor signer"
LINK_PAYLOAD = "payload"
LINK_BLOCK = "transaction in block"
LINK_HEADERS = "header chain"
LINK_CONFIRMATIONS = "confirmations"
LINKS = (LINK_BIRTH, LINK_ENTRY, LINK_INCLUSION, LINK_CHECKPOINT, LINK_CONSISTENCY, LINK_SIGNER,
         LINK_PAYLOAD, LINK_BLOCK, LINK_HEADERS, LINK_CONFIRMATIONS)


class LinkError(VerifyError):
    # The first link of a receipt that does not check: `link` is one of LINKS.
    def __init__(self, link, reason):
        super().__init__(link + ": " + reason)
        self.link = link
        self.reason = reason


def within(link, fn, *args, **kw):
    # Run one check; any protocol error it raises becomes a LinkError for `link`.
    try:
        return fn(*args, **kw)
    except LinkError:
        raise
    except ProtocolError as e:
        raise LinkError(link, str(e) or type(e).__name__) from None


def check_entry(entry, proof, note_text, pubkey=None, key_name=None, verify=None):
    # entry -> leaf -> inclusion proof -> root of the checkpoint; with pubkey the checkpoint's
    # signature by that key first (key_name: default the note's origin). Without pubkey the
    # caller has already verified this note (a device checks a note once, then many receipts).
    # -> (decoded entry, InclusionProof, Checkpoint)
    from dtacore import entries, merkle, note
    decoded = within(LINK_ENTRY, entries.decode, entry)
    cp = within(LINK_CHECKPOINT, note.parse_checkpoint, note_text)
    if pubkey is not None:
        within(LINK_CHECKPOINT, note.verify_checkpoint, note_text, key_name or cp.origin,
               pubkey, verify)
    p = within(LINK_INCLUSION, merkle.decode_inclusion, proof)
    if p.size != cp.size:
        raise LinkError(LINK_INCLUSION, "proof is for tree size %d, the checkpoint has %d"
                        % (p.size, cp.size))
    within(LINK_INCLUSION, merkle.verify_inclusion, merkle.hash_leaf(entry), p.path, cp.root,
           index=p.index, size=p.size)
    return decoded, p, cp


def check_consistency(cp, anchored_note, proof, pubkey=None, key_name=None, verify=None):
    # The receipt's checkpoint `cp` (checked by check_entry) is a prefix of the later checkpoint
    # that was anchored: that note is of the same log, signed by pubkey (key_name: default its
    # origin; without pubkey the caller has verified it), and the RFC 9162 consistency proof
    # recomputes both roots. -> the anchored Checkpoint, for check_checkpoint_anchor
    from dtacore import merkle, note
    later = within(LINK_CONSISTENCY, note.parse_checkpoint, anchored_note)
    if later.origin != cp.origin:
        raise LinkError(LINK_CONSISTENCY, "the anchored checkpoint is of another log")
    if pubkey is not None:
        within(LINK_CONSISTENCY, note.verify_checkpoint, anchored_note,
               key_name or later.origin, pubkey, verify)
    p = within(LINK_CONSISTENCY, merkle.decode_consistency, proof)
    if p.size1 != cp.size or p.size2 != later.size:
        raise LinkError(LINK_CONSISTENCY, "proof is from size %d to %d, the checkpoints have "
                        "%d and %d" % (p.size1, p.size2, cp.size, later.size))
    within(LINK_CONSISTENCY, merkle.verify_consistency, cp.root, later.root, p.path,
           size1=p.size1, size2=p.size2)
    return later


def _anchor_payload(raw_tx, pubkey):
    from dtacore import anchor
    tx = within(LINK_SIGNER, anchor.signed_tx, raw_tx, pubkey)
    return tx, within(LINK_PAYLOAD, anchor.payload_in, tx)


def check_checkpoint_anchor(raw_tx, pubkey, dta_id, sequence, cp):
    # The anchoring transaction is spent by the identity key and its OP_RETURN commits to
    # checkpoint `sequence` of `dta_id` with cp's tree size and root. -> txid (internal order)
    from dtacore import anchor
    tx, payload = _anchor_payload(raw_tx, pubkey)
    within(LINK_PAYLOAD, anchor.match_checkpoint, payload, dta_id, sequence, cp.size, cp.root)
    return tx.txid


def check_birth_anchor(raw_tx, pubkey, dta_id):
    # The Birth Record transaction is spent by the identity key and its OP_RETURN is the birth
    # payload of `dta_id`. -> txid (internal order)
    from dtacore import anchor
    tx, payload = _anchor_payload(raw_tx, pubkey)
    within(LINK_PAYLOAD, anchor.match_birth, payload, dta_id)
    return tx.txid


def check_birth_record(record, dta_id, pubkey, network_name):
    # A revealed Birth Record: it hashes to the D-TA id and names this identity key and network.
    from dtacore import birth
    rec = within(LINK_BIRTH, birth.decode, record)
    if birth.dta_id(record) != bytes(dta_id):
        raise LinkError(LINK_BIRTH, "SHA-256 of the Birth Record is not the D-TA id")
    if rec.identity_pubkey != bytes(pubkey) or rec.network != network_name:
        raise LinkError(LINK_BIRTH, "identity key or network differ from the record's")
    return rec


def check_in_block(txid, txout_proof, headers, block_index):
    # txid is a leaf of the proof's merkle tree and the proof's block is headers[block_index].
    # -> the block header
    from dtacore import spv
    header = within(LINK_BLOCK, spv.tx_in_proof, txid, txout_proof)
    at = block_index * spv.HEADER_LEN
    if block_index < 0 or bytes(headers[at:at + spv.HEADER_LEN]) != header:
        raise LinkError(LINK_BLOCK, "the proof's block is not in the header chain at %d"
                        % block_index)
    return header


def check_header_chain(trusted_header, trusted_height, headers, start_height, net):
    # headers follow the trusted checkpoint header directly, linked, with proof of work
    # against net's limit. -> tip hash
    from dtacore import spv
    if start_height != trusted_height:
        raise LinkError(LINK_HEADERS, "headers start after height %d, the trusted checkpoint "
                        "is at %d" % (start_height, trusted_height))
    return within(LINK_HEADERS, spv.verify_chain, trusted_header, headers, trusted_height, net)


def check_confirmations(n_headers, block_index, k):
    conf = n_headers - block_index
    if conf < k:
        raise LinkError(LINK_CONFIRMATIONS, "%d confirmations, %d required" % (conf, k))
    return conf
