# The full handshake (docs/handshake.md): SIGMA-I in the shape of EDHOC method 0 (RFC 9528),
# ECDSA signatures on both sides, on a private-use suite. Its messages are defined here:
#
#   message_1 = 0x11 | suite 0xE8 | G_X (32) | C_I
#   message_2 = 0x12 | C_I | G_Y (32) | CIPHERTEXT_2 = PLAINTEXT_2 xor KEYSTREAM_2
#               PLAINTEXT_2 = C_R | ID_CRED_R | SIG_2 (64) | EAD_2 (the rest, <= MAX_EAD)
#   message_3 = 0x13 | C_R | AES-CCM(K_3, IV_3, ID_CRED_I | SIG_3 (64) | EAD_3, aad=head|TH_3)
#   message_4 = 0x14 | C_I | AES-CCM(K_4, IV_4, "" or a ticket (dtacore.resumption), aad=head|TH_4)
#
#   i = Initiator(secret, pubkey, cred_id, rng, lookup)
#   r = handshake_responder.Responder(secret, pubkey, cred_id, rng, lookup, tickets=store)
#   m1 = i.start(); m2 = r.receive(m1); m3 = i.receive(m2); m4 = r.receive(m3); i.receive(m4)
#   i.session, r.session: dtacore.session.Session; i.ticket: a dtacore.resumption.Ticket
# The Responder is in dtacore.handshake_responder, so a device that only initiates (the usual
# case) does not hold its code in RAM.
#
# rng(n) -> n random bytes. lookup(cred_id, ead) -> the peer's public key (33 bytes, or a key
# from dtacore.backend.prepare), or None for an unknown id; it may raise
# UntrustedCredentialError (a stale or revoked D-TA). Each signature covers the signer's full
# 33-byte key (CRED), not only its id. Retransmission and duplicates: dtacore.exchange.

import sys

from dtacore import backend
from dtacore import handshake_wire as W
from dtacore.errors import DecodeError, EncodeError, VerifyError
from dtacore.exchange import Exchange
from dtacore.handshake_wire import const

# EDHOC cipher suite -24, from the private-use range -24..-21 (RFC 9528 10.2; the RFC defines
# no secp256k1 suite): AES-CCM-16-64-128, SHA-256, MAC length 8, secp256k1 ECDH on x-only
# ephemerals, ES256K (secp256k1 ECDSA, low-S r||s), AES-CCM-16-64-128, SHA-256.
SUITE = -24
_SUITE_BYTE = const(0xE8)  # -24 as a signed byte
_X_LEN = const(32)  # x-only ephemeral key: either y does, x(k*P) == x(k*-P)
_SIG_LEN = const(64)
_MAC_LEN = const(32)  # MAC_2 / MAC_3 with signature methods: the hash length (RFC 9528 4.1.2)
# EAD_2/EAD_3 (opaque, given to lookup): room for a federation voucher (a 64-byte signature, a
# key id, a validity period) while message_2 stays far below dtacore.wire.MAX_FRAME.
MAX_EAD = const(128)
M1_LEN = const(35)  # kind, suite, G_X, C_I
P2_MIN = const(66)  # C_R, a 1-byte ID_CRED, SIG_2
P2_MAX = const(202)  # C_R, a 9-byte ID_CRED, SIG_2, MAX_EAD
P3_MIN = const(65)
P3_MAX = const(201)
_FIELD_P = 2 ** 256 - 2 ** 32 - 977  # secp256k1's field prime: an x coordinate is below it
# EDHOC_KDF labels (RFC 9528 4.1.2) and this suite's private one (exporter range 32768..);
# the public ones are dtacore.handshake_responder's too
KEYSTREAM_2 = const(0)
_MAC_2 = const(2)
K_3 = const(3)
IV_3 = const(4)
_MAC_3 = const(6)
_PRK_OUT = const(7)
K_4 = const(8)
IV_4 = const(9)
RESUMPTION_SECRET = const(0x8004)
_SIG_DOMAIN = b"DTA/v1/sigma\x00"  # then 2 or 3: the message the signature is in
# dtacore modules kept while the handshake runs (Party._pk unloads the others it loaded).
_KEEP = ("dtacore", "dtacore.backend", "dtacore.errors", "dtacore.ct", "dtacore.hmac",
         "dtacore.ccm", "dtacore.handshake", "dtacore.handshake_responder",
         "dtacore.handshake_wire", "dtacore.exchange", "dtacore.session", "dtacore.resumption",
         "dtacore.tickets", "dtacore.cpython_crypto")


def _x(x, where):
    if int.from_bytes(x, "big") >= _FIELD_P:
        raise W.MessageDecodeError("%s: x coordinate not below the field prime" % where)
    return bytes(x)


def decode_message_1(msg):
    # (G_X, C_I)
    W.check(msg, W.MSG_1, M1_LEN, M1_LEN)
    if msg[1] != _SUITE_BYTE:
        raise W.UnsupportedSuiteError("message_1: cipher suite 0x%02x, only 0xe8 (-24) here"
                                      % msg[1])
    return _x(msg[2:2 + _X_LEN], "message_1 G_X"), msg[2 + _X_LEN]


def decode_message_2(msg):
    # (C_I, G_Y, CIPHERTEXT_2)
    W.check(msg, W.MSG_2, 2 + _X_LEN + P2_MIN, 2 + _X_LEN + P2_MAX)
    return msg[1], _x(msg[2:2 + _X_LEN], "message_2 G_Y"), bytes(msg[2 + _X_LEN:])


def _plaintext(p, pos, lo, hi, where):
    # ID_CRED | SIG (64) | EAD (the rest) from p[pos:]: (cred_id, sig, ead)
    if not lo <= len(p) <= hi:
        raise W.MessageDecodeError("%s: %d bytes, expected %d..%d" % (where, len(p), lo, hi))
    cid, pos = W.read_cred_id(p, pos, where)
    if pos + _SIG_LEN > len(p):
        raise W.MessageDecodeError("%s: truncated inside the signature" % where)
    if len(p) - pos - _SIG_LEN > MAX_EAD:
        raise W.MessageDecodeError("%s: EAD over MAX_EAD %d" % (where, MAX_EAD))
    return cid, bytes(p[pos:pos + _SIG_LEN]), bytes(p[pos + _SIG_LEN:])


def decode_plaintext_2(p):
    # (C_R, cred_id, SIG_2, EAD_2)
    return (p[0] if len(p) else 0,) + _plaintext(p, 1, P2_MIN, P2_MAX, "PLAINTEXT_2")


def decode_plaintext_3(p):
    # (cred_id, SIG_3, EAD_3)
    return _plaintext(p, 0, P3_MIN, P3_MAX, "PLAINTEXT_3")


def decode_message_3(msg):
    # (C_R, CIPHERTEXT_3)
    W.check(msg, W.MSG_3, 2 + P3_MIN + W.TAG_LEN, 2 + P3_MAX + W.TAG_LEN)
    return msg[1], bytes(msg[2:])


def decode_message_4(msg):
    # (C_I, CIPHERTEXT_4): 10 bytes without a ticket, 23 with one (resumption.TICKET_INFO_LEN)
    W.check(msg, W.MSG_4, 10, 23)
    if len(msg) != 10 and len(msg) != 23:
        raise W.MessageDecodeError("message_4: %d bytes, expected 10 or 23" % len(msg))
    return msg[1], bytes(msg[2:])


def check_ead(ead):
    if len(ead) > MAX_EAD:
        raise EncodeError("EAD of %d bytes exceeds MAX_EAD %d" % (len(ead), MAX_EAD))
    return bytes(ead)


def sig_digest(n, id_cred, th_n, cred, ead, mac):
    # SIG_n's digest (n = 2, 3), COSE's Signature1 structure made binary:
    # SHA-256(DOMAIN | n | ID_CRED | TH_n | CRED | len(EAD) u8 | EAD | MAC_n)
    return W.th(_SIG_DOMAIN, bytes((n,)), id_cred, th_n, cred, bytes((len(ead),)), ead, mac)


class Party(Exchange):
    # What the Initiator and the Responder (dtacore.handshake_responder) share.
    def __init__(self, secret, pubkey, cred_id, rng, lookup, ead, trace, unload):
        Exchange.__init__(self, rng, trace)
        if len(pubkey) != W.CRED_LEN or pubkey[0] not in (2, 3):
            raise EncodeError("pubkey must be a 33-byte compressed SEC1 key")
        self._secret = secret
        self.pubkey = bytes(pubkey)
        self._id_cred = W.encode_cred_id(cred_id)
        self.cred_id = bytes(cred_id)
        self._lookup = lookup
        self._ead = check_ead(ead)
        # unload (MicroPython): drop the curve modules each public-key operation loaded as
        # soon as it is done (code and tables sit in RAM unless frozen into flash)
        self._unload = unload and backend.NAME == "micropython"
        self.peer_cred = self.peer_cred_id = self.peer_ead = self.ticket = None

    def _pk(self, f, *args):
        # One public-key operation; with unload, the curve modules it loaded go right after.
        if not self._unload:
            return f(*args)
        before = set(sys.modules)
        try:
            return f(*args)
        finally:
            import dtacore
            for name in [n for n in sys.modules if n not in before and n not in _KEEP]:
                del sys.modules[name]
                if name.startswith("dtacore.") and hasattr(dtacore, name[8:]):
                    delattr(dtacore, name[8:])

    def _ephemeral(self):
        # A fresh secret from rng (32 bytes a try) and its x-only public key.
        while True:
            k = bytes(self._rng(32))
            if backend.valid_secret(k):
                return k, self._pk(backend.pubkey, k)[1:]

    def _prk_2e(self, secret, x, h1, g_y, where):
        # (TH_2, PRK_2e = HKDF-Extract(salt=TH_2, IKM=G_XY)): the ECDH, with peer-key check.
        try:
            g_xy = self._pk(backend.shared_x, secret, b"\x02" + x)
        except DecodeError:
            raise W.MessageDecodeError("%s: not the x coordinate of a curve point"
                                       % where) from None
        th2 = W.th(g_y, h1)
        prk = backend.hmac_sha256(th2, g_xy)
        self._t("G_XY", g_xy)
        self._t("TH_2", th2)
        self._t("PRK_2e", prk)
        return th2, prk

    def _peer_key(self, cred_id, ead, where):
        # (key for verify, CRED): lookup resolves the peer's credential id.
        key = self._lookup(cred_id, ead)
        if key is None:
            raise W.UnknownCredentialError("%s: credential id %s is not known"
                                           % (where, W.hexs(cred_id)))
        cred = bytes(getattr(key, "pubkey", key))
        if len(cred) != W.CRED_LEN:
            raise EncodeError("lookup must return a 33-byte compressed key")
        return key, cred

    def _mac(self, prk, n, head, id_cred, th_n, cred, ead):
        # MAC_2 (head = C_R) or MAC_3 (head = b""): EDHOC_KDF over context_2 / context_3
        mac = W.kdf(prk, _MAC_2 if n == 2 else _MAC_3, head + id_cred + th_n + cred + ead,
                    _MAC_LEN)
        self._t("MAC_%d" % n, mac)
        return mac

    def _verify(self, n, key, cred, cred_id, th_n, ead, mac, sig, where):
        digest = sig_digest(n, W.encode_cred_id(cred_id), th_n, cred, ead, mac)
        self._t("SIG_%d_DIGEST" % n, digest)
        if not self._pk(backend.verify, key, digest, sig):
            raise W.BadSignatureError("%s: the signature does not verify under credential %s"
                                      % (where, W.hexs(cred_id)))
        self.peer_cred_id, self.peer_cred, self.peer_ead = bytes(cred_id), cred, ead

    def _sign(self, n, th_n, mac):
        digest = sig_digest(n, self._id_cred, th_n, self.pubkey, self._ead, mac)
        self._t("SIG_%d_DIGEST" % n, digest)
        return self._pk(backend.sign, self._secret, digest, bytes(self._rng(32)))

    def _keys(self, prk, k, iv, th_n, n):
        # (K_n, IV_n) for message_3 (n = 3) or message_4 (n = 4)
        key = W.kdf(prk, k, th_n, W.KEY_LEN)
        nonce = W.kdf(prk, iv, th_n, W.IV_LEN)
        self._t("K_%d" % n, key)
        self._t("IV_%d" % n, nonce)
        return key, nonce

    def _finish(self, prk, th4, initiator):
        # PRK_out and PRK_exporter from TH_4; the session's keys come from the exporter.
        from dtacore.session import Session
        prk_out = W.kdf(prk, _PRK_OUT, th4, W.HASH_LEN)
        prk_exp = W.kdf(prk_out, W.PRK_EXPORTER, b"", W.HASH_LEN)
        self._t("PRK_out", prk_out)
        self._t("PRK_exporter", prk_exp)
        self.session = Session(prk_exp, initiator, self.conn_id, self.peer_conn_id,
                               self.peer_cred, self.peer_cred_id, self._trace)
        return prk_exp


class Initiator(Party):
    def __init__(self, secret, pubkey, cred_id, rng, lookup, ead=b"", trace=None, unload=False):
        Party.__init__(self, secret, pubkey, cred_id, rng, lookup, ead, trace, unload)

    def start(self):
        if self._last_out is not None:
            raise W.UnexpectedMessageError("start(): this handshake has started already")
        self._x, g_x = self._ephemeral()
        self.conn_id = self._rng(1)[0]
        m1 = bytes((W.MSG_1, _SUITE_BYTE)) + g_x + bytes((self.conn_id,))
        self._h1 = W.th(m1)
        self._t("G_X", g_x)
        self._t("message_1", m1)
        self._state({W.MSG_2: self._on_message_2}, "waiting for message_2")
        return self._sent(m1)

    def _on_message_2(self, msg):
        c_i, g_y, ct = decode_message_2(msg)
        th2, prk = self._prk_2e(self._x, g_y, self._h1, g_y, "message_2 G_Y")
        ks = W.kdf(prk, KEYSTREAM_2, th2, len(ct))
        p2 = W.xor(ct, ks)
        self._t("G_Y", g_y)
        self._t("KEYSTREAM_2", ks)
        self._t("PLAINTEXT_2", p2)
        c_r, cid, sig, ead = decode_plaintext_2(p2)
        if c_r == self.conn_id:
            raise W.MessageDecodeError("PLAINTEXT_2: C_R equals C_I")
        key, cred = self._peer_key(cid, ead, "message_2")
        mac2 = self._mac(prk, 2, bytes((c_r,)), W.encode_cred_id(cid), th2, cred, ead)
        self._verify(2, key, cred, cid, th2, ead, mac2, sig, "message_2")
        self.peer_conn_id = c_r
        self._x = None
        return self._message_3(prk, W.th(th2, p2, cred))

    def _message_3(self, prk, th3):
        self._t("TH_3", th3)
        k3, iv3 = self._keys(prk, K_3, IV_3, th3, 3)
        mac3 = self._mac(prk, 3, b"", self._id_cred, th3, self.pubkey, self._ead)
        p3 = self._id_cred + self._sign(3, th3, mac3) + self._ead
        head = bytes((W.MSG_3, self.peer_conn_id))
        m3 = head + backend.ccm_encrypt(k3, iv3, p3, head + th3, W.TAG_LEN)
        self._th4 = th4 = W.th(th3, p3, self.pubkey)
        for name, v in (("PLAINTEXT_3", p3), ("message_3", m3), ("TH_4", th4)):
            self._t(name, v)
        self._k4 = self._keys(prk, K_4, IV_4, th4, 4)
        self._prk_exp = self._finish(prk, th4, True)
        self._state({W.MSG_4: self._on_message_4}, "waiting for message_4")
        return m3

    def _on_message_4(self, msg):
        ct = decode_message_4(msg)[1]
        try:
            p4 = backend.ccm_decrypt(self._k4[0], self._k4[1], ct, msg[:2] + self._th4,
                                     W.TAG_LEN)
        except VerifyError:
            raise W.BadTagError("message_4: the AEAD tag does not verify") from None
        self._t("PLAINTEXT_4", p4)
        if len(p4):
            from dtacore import resumption
            tid, lifetime, uses = resumption.decode_ticket_info(p4)
            rs0 = W.kdf(self._prk_exp, RESUMPTION_SECRET, b"", W.HASH_LEN)
            self._t("RS_0", rs0)
            self.ticket = resumption.Ticket(tid, 0, rs0, uses, lifetime, 0, self.peer_cred,
                                            self.peer_cred_id)
        self._prk_exp = self._k4 = None
        self.session.confirmed = True
        self._state({}, "the handshake is complete")
        return None
