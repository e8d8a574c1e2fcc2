# The responder's side of the full handshake (dtacore.handshake defines the messages, the
# shared party code and the Initiator): usually the D-TA; a device when the D-TA or another
# device starts.
#
#   r = Responder(secret, pubkey, cred_id, rng, lookup, ead=b"", trace=None, unload=False,
#                 tickets=None)                  m2 = r.receive(m1); m4 = r.receive(m3)

from dtacore import backend
from dtacore import handshake as H
from dtacore import handshake_wire as W
from dtacore.errors import VerifyError


class Responder(H.Party):
    # tickets: a dtacore.tickets.TicketStore that message_4 issues a ticket from, or None.
    def __init__(self, secret, pubkey, cred_id, rng, lookup, ead=b"", trace=None, unload=False,
                 tickets=None):
        H.Party.__init__(self, secret, pubkey, cred_id, rng, lookup, ead, trace, unload)
        self._tickets = tickets
        self._state({W.MSG_1: self._on_message_1}, "waiting for message_1")

    def _on_message_1(self, msg):
        g_x, c_i = H.decode_message_1(msg)
        y, g_y = self._ephemeral()
        c_r = self._rng(1)[0]
        if c_r == c_i:
            c_r ^= 1  # C_R differs from C_I, so records in the two directions never look alike
        self._t("G_X", g_x)
        self._t("G_Y", g_y)
        th2, prk = self._prk_2e(y, g_x, W.th(msg), g_y, "message_1 G_X")
        mac2 = self._mac(prk, 2, bytes((c_r,)), self._id_cred, th2, self.pubkey, self._ead)
        p2 = bytes((c_r,)) + self._id_cred + self._sign(2, th2, mac2) + self._ead
        ks = W.kdf(prk, H.KEYSTREAM_2, th2, len(p2))
        m2 = bytes((W.MSG_2, c_i)) + g_y + W.xor(p2, ks)
        self._th3 = th3 = W.th(th2, p2, self.pubkey)
        for name, v in (("PLAINTEXT_2", p2), ("KEYSTREAM_2", ks), ("message_2", m2),
                        ("TH_3", th3)):
            self._t(name, v)
        self._k3 = self._keys(prk, H.K_3, H.IV_3, th3, 3)
        self.conn_id, self.peer_conn_id, self._prk = c_r, c_i, prk
        self._state({W.MSG_3: self._on_message_3}, "waiting for message_3")
        return self._sent(m2)

    def _on_message_3(self, msg):
        ct = H.decode_message_3(msg)[1]
        try:
            p3 = backend.ccm_decrypt(self._k3[0], self._k3[1], ct, msg[:2] + self._th3,
                                     W.TAG_LEN)
        except VerifyError:
            raise W.BadTagError("message_3: the AEAD tag does not verify (another session's "
                                "message_3, or modified)") from None
        self._t("PLAINTEXT_3", p3)
        cid, sig, ead = H.decode_plaintext_3(p3)
        key, cred = self._peer_key(cid, ead, "message_3")
        prk, th3 = self._prk, self._th3
        mac3 = self._mac(prk, 3, b"", W.encode_cred_id(cid), th3, cred, ead)
        self._verify(3, key, cred, cid, th3, ead, mac3, sig, "message_3")
        th4 = W.th(th3, p3, cred)
        self._t("TH_4", th4)
        k4, iv4 = self._keys(prk, H.K_4, H.IV_4, th4, 4)
        prk_exp = self._finish(prk, th4, False)
        p4 = b""
        if self._tickets is not None:
            rs0 = W.kdf(prk_exp, H.RESUMPTION_SECRET, b"", W.HASH_LEN)
            self._t("RS_0", rs0)
            p4 = self._tickets.issue(rs0, cred, self.peer_cred_id, self._rng)
        head = bytes((W.MSG_4, self.peer_conn_id))
        m4 = head + backend.ccm_encrypt(k4, iv4, p4, head + th4, W.TAG_LEN)
        self._t("PLAINTEXT_4", p4)
        self._t("message_4", m4)
        self._k3 = self._prk = self._th3 = None
        self.session.confirmed = True
        self._state({}, "the handshake is complete")
        return self._sent(m4)
