# The record layer of a handshake's session (docs/handshake.md, "Records"), host and device.
#
#   record = 0x17 | C_x (the recipient's connection id) | SEQ u32 | AES-CCM-16-64-128 ciphertext
#   a key and an IV per direction from the EDHOC exporter; nonce = IV xor SEQ; AAD = the header
#
# SEQ counts from 0 in each direction. open() takes records out of order within WINDOW and
# refuses a replayed or older one (ReplayError); the window moves only for a record whose tag
# verified, so forged records change nothing.

import struct

from dtacore import backend
from dtacore import handshake_wire as W
from dtacore.errors import EncodeError, VerifyError
from dtacore.handshake_wire import const

HEADER_LEN = const(6)
# A record fits one device frame (dtacore.wire.MAX_FRAME: an MQTT packet, a UART buffer).
MAX_RECORD = const(512)
MAX_PLAINTEXT = const(498)  # MAX_RECORD - HEADER_LEN - TAG_LEN
MAX_SEQ = 0xFFFFFFFF  # SEQ is a u32; a session that has used them all runs a new handshake
# MQTT QoS 1 redelivers and, across reconnects, reorders a few messages: 64 covers that.
WINDOW = const(64)
# 8-byte tags: a forged record passes with probability 2^-64, so after 2^16 refused records
# the chance that one got through is below 2^-48; then the session closes (RFC 9147 4.5.3:
# CCM_8 needs a bound on forgery attempts).
MAX_BAD_RECORDS = const(65536)
# EDHOC_Exporter labels of this suite (private-use range, RFC 9528 10.1)
_K_I2R = const(0x8000)
_IV_I2R = const(0x8001)
_K_R2I = const(0x8002)
_IV_R2I = const(0x8003)


def decode_record(record):
    # (recipient connection id, SEQ, ciphertext)
    W.check(record, W.RECORD, HEADER_LEN + W.TAG_LEN, MAX_RECORD)
    return record[1], struct.unpack(">I", record[2:6])[0], bytes(record[HEADER_LEN:])


class Session:
    # Keys from PRK_exporter; initiator says which direction this side sends in.
    def __init__(self, prk_exp, initiator, conn_id, peer_conn_id, peer_cred, peer_cred_id,
                 trace=None):
        keys = []
        for name, label, n in (("K_I2R", _K_I2R, W.KEY_LEN), ("IV_I2R", _IV_I2R, W.IV_LEN),
                               ("K_R2I", _K_R2I, W.KEY_LEN), ("IV_R2I", _IV_R2I, W.IV_LEN)):
            keys.append(W.kdf(prk_exp, label, b"", n))
            if trace is not None:
                trace(name, keys[-1])
        self._send, self._recv = (keys[:2], keys[2:]) if initiator else (keys[2:], keys[:2])
        self.initiator = initiator
        self.conn_id = conn_id
        self.peer_conn_id = peer_conn_id
        self.peer_cred = peer_cred
        self.peer_cred_id = peer_cred_id
        self.confirmed = False  # True once the peer has proved it holds the keys
        self.next_seq = 0
        self._top = -1  # the highest SEQ received
        self._seen = 0  # bit d set: SEQ top - d was received
        self.bad_records = 0

    def seal(self, plaintext):
        if len(plaintext) > MAX_PLAINTEXT:
            raise EncodeError("record plaintext of %d bytes exceeds MAX_PLAINTEXT %d"
                              % (len(plaintext), MAX_PLAINTEXT))
        seq = self.next_seq
        if seq > MAX_SEQ:
            raise W.AbortedError("the session used all 2^32 sequence numbers: run a new handshake")
        head = struct.pack(">BBI", W.RECORD, self.peer_conn_id, seq)
        self.next_seq = seq + 1
        return head + backend.ccm_encrypt(self._send[0], _nonce(self._send[1], seq), plaintext,
                                          head, W.TAG_LEN)

    def open(self, record):
        conn_id, seq, ct = decode_record(record)
        if conn_id != self.conn_id:
            raise W.UnexpectedMessageError("record for connection %02x, this session is %02x"
                                           % (conn_id, self.conn_id))
        d = self._top - seq
        if d >= WINDOW:
            raise W.ReplayError("record %d is older than the replay window (latest %d)"
                                % (seq, self._top))
        if d >= 0 and (self._seen >> d) & 1:
            raise W.ReplayError("record %d was received already" % seq)
        if self.bad_records >= MAX_BAD_RECORDS:
            raise W.AbortedError("%d records failed authentication: run a new handshake"
                                 % self.bad_records)
        try:
            out = backend.ccm_decrypt(self._recv[0], _nonce(self._recv[1], seq), ct,
                                      record[:HEADER_LEN], W.TAG_LEN)
        except VerifyError:
            self.bad_records += 1
            raise W.BadTagError("record %d: the AEAD tag does not verify" % seq) from None
        if d < 0:
            self._seen = ((self._seen << -d) | 1) & ((1 << WINDOW) - 1) if -d < WINDOW else 1
            self._top = seq
        else:
            self._seen |= 1 << d
        self.confirmed = True
        return out


def _nonce(iv, seq):
    return (int.from_bytes(iv, "big") ^ seq).to_bytes(W.IV_LEN, "big")
