# Key shares from a federation of D-TAs (docs/shares.md), for host and device.
#
# D-TA i derives share_i = HMAC-SHA256(s_i, DERIVE_DOMAIN | len u16 | subject | epoch u32 |
# ctr u8) mod n for the first ctr (from 0) giving a non-zero value, from its master secret s_i.
# It signs, with its identity key, the public share P_i = share_i*G together with its D-TA id,
# the subject, the epoch and the log index of the ShareIssued entry it wrote first:
#
#   public share statement = dta_id 32 | epoch u32 | log_index u64 | P_i 33 | sig 64 |
#                            subject_len u16 | subject
#   sig = ECDSA(identity key, SHA-256(PUBLIC_DOMAIN | dta_id | len u16 | subject | epoch u32 |
#                                     log_index u64 | P_i))
#
# The holder checks each share against its statement and the D-TA's verified key, then adds the
# shares (mod n) and the public shares (point sum) and checks that the combined share times G
# is the combined public key. The same subject and epoch always give the same share.

import struct
from collections import namedtuple

from dtacore.errors import DecodeError, EncodeError, VerifyError

N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
DERIVE_DOMAIN = b"DTA/v1/share\x00"
PUBLIC_DOMAIN = b"DTA/v1/public-share\x00"
# Subjects: device key ids, OIDC "issuer sub" (<= 512 as in dtacore.entries), app client ids.
MAX_SUBJECT = 512
# A holder combines the shares of at most this many D-TAs (a federation is a handful).
MAX_SHARES = 16
MAX_EPOCH = 0xFFFFFFFF
SHARE_LEN = 32
PUBKEY_LEN = 33
SIG_LEN = 64
STATEMENT_FIXED = 32 + 4 + 8 + PUBKEY_LEN + SIG_LEN + 2
MAX_STATEMENT = STATEMENT_FIXED + MAX_SUBJECT

PublicShare = namedtuple("PublicShare", ("dta_id", "subject", "epoch", "log_index",
                                         "public_share", "signature"))


def _check_subject_epoch(subject, epoch):
    if not 1 <= len(subject) <= MAX_SUBJECT:
        raise EncodeError("subject must be 1..%d bytes" % MAX_SUBJECT)
    if not 0 <= epoch <= MAX_EPOCH:
        raise EncodeError("epoch must fit 32 bits")


def derive(master_secret, subject, epoch):
    # -> the 32-byte share of `subject` for `epoch` (what only the D-TA can compute).
    from dtacore.hmac import hmac_sha256
    _check_subject_epoch(subject, epoch)
    if len(master_secret) != 32:
        raise EncodeError("master secret must be 32 bytes")
    msg = DERIVE_DOMAIN + struct.pack(">H", len(subject)) + bytes(subject) + struct.pack(
        ">I", epoch)
    for ctr in range(256):
        d = int.from_bytes(hmac_sha256(master_secret, msg + bytes((ctr,))), "big") % N
        if d:
            return d.to_bytes(32, "big")
    raise EncodeError("no non-zero share in 256 tries")  # probability ~2^-65000


def statement_digest(dta_id, subject, epoch, log_index, public_share):
    import hashlib
    _check_subject_epoch(subject, epoch)
    if len(dta_id) != 32 or len(public_share) != PUBKEY_LEN or not 0 <= log_index < 1 << 64:
        raise EncodeError("D-TA id 32 bytes, public share 33 bytes, log index 64 bits")
    h = hashlib.sha256(PUBLIC_DOMAIN)
    h.update(bytes(dta_id))
    h.update(struct.pack(">H", len(subject)))
    h.update(bytes(subject))
    h.update(struct.pack(">IQ", epoch, log_index))
    h.update(bytes(public_share))
    return h.digest()


def encode_statement(ps):
    if len(ps.signature) != SIG_LEN:
        raise EncodeError("signature must be 64 bytes")
    statement_digest(ps.dta_id, ps.subject, ps.epoch, ps.log_index, ps.public_share)
    return (bytes(ps.dta_id) + struct.pack(">IQ", ps.epoch, ps.log_index)
            + bytes(ps.public_share) + bytes(ps.signature)
            + struct.pack(">H", len(ps.subject)) + bytes(ps.subject))


def decode_statement(data):
    n = len(data)
    if n < STATEMENT_FIXED + 1 or n > MAX_STATEMENT:
        raise DecodeError("public share statement of %d bytes, want %d..%d"
                          % (n, STATEMENT_FIXED + 1, MAX_STATEMENT))
    epoch, index = struct.unpack(">IQ", bytes(data[32:44]))
    pub = bytes(data[44:77])
    if pub[0] not in (2, 3):
        raise DecodeError("public share is not a compressed point")
    slen = struct.unpack(">H", bytes(data[141:143]))[0]
    if slen == 0 or STATEMENT_FIXED + slen != n:
        raise DecodeError("public share statement: subject length %d does not match" % slen)
    return PublicShare(bytes(data[0:32]), bytes(data[143:]), epoch, index, pub,
                       bytes(data[77:141]))


def sign_statement(signer, dta_id, subject, epoch, log_index, public_share):
    # Host: signer is the D-TA's identity key (sign_digest -> 64-byte compact, low-S).
    digest = statement_digest(dta_id, subject, epoch, log_index, public_share)
    return PublicShare(bytes(dta_id), bytes(subject), epoch, log_index, bytes(public_share),
                       signer.sign_digest(digest))


def check_share(share, ps, dta_pubkey, subject, epoch):
    # The share is the one this D-TA signed for this subject and epoch: the statement's
    # signature by the D-TA's verified key (raw or prepared), then share*G == P_i.
    from dtacore import backend
    if ps.subject != bytes(subject) or ps.epoch != epoch:
        raise VerifyError("the public share is for another subject or epoch")
    digest = statement_digest(ps.dta_id, ps.subject, ps.epoch, ps.log_index, ps.public_share)
    if not backend.verify(dta_pubkey, digest, ps.signature):
        raise VerifyError("the public share is not signed by this D-TA's identity key")
    if not backend.valid_secret(share) or backend.pubkey(share) != ps.public_share:
        raise VerifyError("share*G is not the signed public share",
                          expected=ps.public_share)


def combine(shares, public_shares):
    # -> (combined share, combined public key): sum of shares mod n, point sum of the public
    # shares, and the check that one is the other's public key. At least two D-TAs.
    from dtacore import backend
    if not 2 <= len(shares) <= MAX_SHARES or len(shares) != len(public_shares):
        raise EncodeError("combine 2..%d shares, one public share each" % MAX_SHARES)
    total = 0
    for s in shares:
        total = (total + int.from_bytes(s, "big")) % N
    if not total:
        raise VerifyError("the shares sum to zero")
    secret = total.to_bytes(32, "big")
    combined = backend.point_sum(public_shares)
    if backend.pubkey(secret) != combined:
        raise VerifyError("the combined share is not the combined public key's secret")
    return secret, combined
