# PSK resumption after a full handshake (docs/handshake.md, "Resumption"): two messages and no
# public-key operation on either side, for sleepy devices. Its messages are defined here:
#
#   resume_1 = 0x15 | C_I | TICKET_ID (8) | USE u8 | BINDER (8)      initiator -> responder
#   resume_2 = 0x16 | C_I | C_R | N_R (8) | MAC (8)                  responder -> initiator
#   ticket (PLAINTEXT_4 of message_4) = TICKET_ID (8) | LIFETIME u32 seconds | MAX_USES u8
#
# The full handshake leaves RS_0 (an exporter secret) on both sides; the responder keeps it in a
# TicketStore under a random TICKET_ID, and the ticket the initiator gets is that id: opaque to
# it, the state stays with the responder. Use u = 1..MAX_USES runs on the ratchet
# RS_u = EDHOC_KDF(RS_u-1, RATCHET, TICKET_ID | u, 32), and each side keeps only its latest RS,
# so a later compromise of either side does not reveal the sessions resumed before it. What
# resumption gives up: no fresh ECDH, so whoever takes a ticket's current RS (from either side)
# can read every later session resumed from it; lifetime and use count bound that exposure.
#
#   t = initiator.ticket (after message_4)    store = tickets.TicketStore(clock)  (responder)
#   ri = ResumeInitiator(t, rng); r1 = ri.start()    persist t.encode() before sending r1
#   rr = tickets.ResumeResponder(store, rng); r2 = rr.receive(r1); ri.receive(r2); ri.session
# The responder's side is in dtacore.tickets, so a device that resumes loads only this module.

import struct

from dtacore import backend
from dtacore import handshake_wire as W
from dtacore.exchange import Exchange
from dtacore.handshake_wire import const

MAX_LIFETIME = 7 * 24 * 3600  # the cap TLS 1.3 puts on tickets (RFC 8446 4.6.1)
MAX_USES = const(255)  # USE is one byte on the wire
TICKET_ID_LEN = const(8)  # random: unguessable, and collisions are negligible
TICKET_INFO_LEN = const(13)
RESUME_1_LEN = const(19)
RESUME_2_LEN = const(19)
NONCE_R_LEN = const(8)
MAC_LEN = const(8)  # binder and MAC: the suite's MAC length, like the CCM tags
_TICKET_FORMAT = const(1)  # first byte of Ticket.encode()
_TICKET_FIXED = const(84)  # format, id, use, max uses, lifetime, expires, RS, peer key
# EDHOC_KDF labels of this suite (private-use range)
_RATCHET = const(0x8010)
BINDER = const(0x8011)
RESUME_MAC = const(0x8012)
_RESUME_PRK_OUT = const(0x8013)


def decode_ticket_info(p):
    # (TICKET_ID, LIFETIME, MAX_USES) from message_4's plaintext
    if len(p) != TICKET_INFO_LEN or not p[12]:
        raise W.MessageDecodeError("PLAINTEXT_4: %d bytes, expected 0 or 13 with uses > 0"
                                   % len(p))
    return bytes(p[:8]), int.from_bytes(p[8:12], "big"), p[12]


def decode_resume_1(msg):
    # (C_I, TICKET_ID, USE, BINDER)
    W.check(msg, W.RESUME_1, RESUME_1_LEN, RESUME_1_LEN)
    if not msg[10]:
        raise W.MessageDecodeError("resume_1: ticket use 0 (uses count from 1)")
    return msg[1], bytes(msg[2:10]), msg[10], bytes(msg[11:])


def decode_resume_2(msg):
    # (C_I, C_R, N_R, MAC)
    W.check(msg, W.RESUME_2, RESUME_2_LEN, RESUME_2_LEN)
    if msg[1] == msg[2]:
        raise W.MessageDecodeError("resume_2: C_R equals C_I")
    return msg[1], msg[2], bytes(msg[3:11]), bytes(msg[11:])


class Ticket:
    # One ticket's state. On the initiator `expires` is 0 (the responder's clock decides); in a
    # TicketStore it is the expiry in the store's clock. `secret` is RS_use.
    def __init__(self, ticket_id, use, secret, max_uses, lifetime, expires, peer_cred,
                 peer_cred_id):
        self.ticket_id = bytes(ticket_id)
        self.use = use
        self.secret = secret
        self.max_uses = max_uses
        self.lifetime = lifetime
        self.expires = expires
        self.peer_cred = peer_cred
        self.peer_cred_id = peer_cred_id

    def encode(self):
        # For storage; it holds a secret (files 0600, written atomically). decode_ticket reads it.
        return (bytes((_TICKET_FORMAT,)) + self.ticket_id
                + struct.pack(">BBII", self.use, self.max_uses, self.lifetime, self.expires)
                + self.secret + self.peer_cred + W.encode_cred_id(self.peer_cred_id))


def decode_ticket(b):
    # Strict inverse of Ticket.encode: 85 bytes with a short peer id, 93 with a key id.
    if len(b) != _TICKET_FIXED + 1 and len(b) != _TICKET_FIXED + 9:
        raise W.MessageDecodeError("ticket: %d bytes, expected 85 or 93" % len(b))
    if b[0] != _TICKET_FORMAT:
        raise W.MessageDecodeError("ticket: format %d, expected 1" % b[0])
    use, max_uses, lifetime, expires = struct.unpack(">BBII", b[9:19])
    if not max_uses or use > max_uses or lifetime > MAX_LIFETIME:
        raise W.MessageDecodeError("ticket: use %d of %d, lifetime %d s: out of range"
                                   % (use, max_uses, lifetime))
    if b[51] != 2 and b[51] != 3:
        raise W.MessageDecodeError("ticket: the peer key is not a compressed SEC1 key")
    cid, end = W.read_cred_id(b, _TICKET_FIXED, "ticket")
    if end != len(b):
        raise W.MessageDecodeError("ticket: %d trailing bytes" % (len(b) - end))
    return Ticket(b[1:9], use, bytes(b[19:51]), max_uses, lifetime, expires, bytes(b[51:84]),
                  cid)


def ratchet(secret, ticket_id, use):
    # RS_use from RS_use-1 (one HMAC): one-way, so the old secret can be forgotten.
    return W.kdf(secret, _RATCHET, ticket_id + bytes((use,)), W.HASH_LEN)


def session(party, rs, th2, initiator, ticket):
    # The resumed session's keys from RS_u and TH_r2 (both sides).
    from dtacore.session import Session
    prk_out = W.kdf(rs, _RESUME_PRK_OUT, th2, W.HASH_LEN)
    prk_exp = W.kdf(prk_out, W.PRK_EXPORTER, b"", W.HASH_LEN)
    party._t("PRK_out", prk_out)
    party._t("PRK_exporter", prk_exp)
    s = Session(prk_exp, initiator, party.conn_id, party.peer_conn_id, ticket.peer_cred,
                ticket.peer_cred_id, party._trace)
    s.confirmed = True  # the binder or the MAC proved the peer holds RS_u
    party.session = s
    party._state({}, "the resumption is complete")


class ResumeInitiator(Exchange):
    # lookup (optional): asked before resuming, so a peer that became untrusted since the full
    # handshake (a stale D-TA) is not resumed with; no public-key operation is involved.
    def __init__(self, ticket, rng, lookup=None, trace=None):
        Exchange.__init__(self, rng, trace)
        self.ticket = ticket
        self._lookup = lookup

    def start(self):
        t = self.ticket
        if self._last_out is not None:
            raise W.UnexpectedMessageError("start(): this resumption has started already")
        if t.use >= t.max_uses:
            raise W.TicketRejectedError("ticket %s used %d of %d times: run a full handshake"
                                        % (W.hexs(t.ticket_id), t.use, t.max_uses))
        if self._lookup is not None:
            key = self._lookup(t.peer_cred_id, b"")
            if key is None or bytes(getattr(key, "pubkey", key)) != t.peer_cred:
                raise W.UntrustedCredentialError("the ticket's peer %s is not trusted with this "
                                                 "key any more" % W.hexs(t.peer_cred_id))
        use = t.use + 1
        rs = ratchet(t.secret, t.ticket_id, use)
        t.use, t.secret = use, rs  # advanced before sending: a use number goes out only once
        self.conn_id = self._rng(1)[0]
        head = bytes((W.RESUME_1, self.conn_id)) + t.ticket_id + bytes((use,))
        self._th1 = W.th(head)
        self._binder = W.kdf(rs, BINDER, self._th1, MAC_LEN)
        r1 = head + self._binder
        for name, v in (("RS_u", rs), ("TH_r1", self._th1), ("BINDER", self._binder),
                        ("resume_1", r1)):
            self._t(name, v)
        self._state({W.RESUME_2: self._on_resume_2}, "waiting for resume_2")
        return self._sent(r1)

    def _on_resume_2(self, msg):
        _, c_r, _, mac_got = decode_resume_2(msg)
        th2 = W.th(self._th1, self._binder, msg[:11])
        mac = W.kdf(self.ticket.secret, RESUME_MAC, th2, MAC_LEN)
        self._t("TH_r2", th2)
        self._t("MAC_r2", mac)
        if not backend.equal(mac, mac_got):
            raise W.BadTagError("resume_2: the MAC does not verify")
        self.peer_conn_id = c_r
        session(self, self.ticket.secret, th2, True, self.ticket)
        return None
