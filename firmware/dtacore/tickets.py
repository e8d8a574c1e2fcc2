# The responder's side of the resumption (dtacore.resumption defines the messages and the
# initiator's side): the TicketStore that keeps every issued ticket's state, and the
# ResumeResponder that answers resume_1. On the host this is the D-TA; a device that only ever
# resumes as the initiator never loads this module.
#
#   store = TicketStore(clock)                     Responder(..., tickets=store) issues tickets
#   rr = ResumeResponder(store, rng); r2 = rr.receive(r1); rr.session.open(record) ...

import struct

from dtacore import backend
from dtacore import handshake_wire as W
from dtacore import resumption as R
from dtacore.errors import EncodeError
from dtacore.exchange import Exchange

DEFAULT_LIFETIME = 24 * 3600  # at least one full handshake (fresh ECDH) a day
DEFAULT_MAX_USES = 96  # a device waking every 15 minutes resumes for a day


class TicketStore:
    # The responder's tickets. entries: a mapping ticket id -> Ticket (a dict, or one that
    # persists on assignment: every change is written back as entries[id] = ticket).
    def __init__(self, clock, lifetime=DEFAULT_LIFETIME, max_uses=DEFAULT_MAX_USES, entries=None):
        if not 0 < lifetime <= R.MAX_LIFETIME or not 0 < max_uses <= R.MAX_USES:
            raise EncodeError("ticket lifetime must be 1..%d s and uses 1..%d"
                              % (R.MAX_LIFETIME, R.MAX_USES))
        self.clock = clock
        self.lifetime = lifetime
        self.max_uses = max_uses
        self.entries = {} if entries is None else entries

    def issue(self, rs0, peer_cred, peer_cred_id, rng):
        # A new ticket for RS_0; returns message_4's plaintext (TICKET_ID | LIFETIME | USES).
        tid = bytes(rng(R.TICKET_ID_LEN))
        while tid in self.entries:
            tid = bytes(rng(R.TICKET_ID_LEN))
        self.entries[tid] = R.Ticket(tid, 0, rs0, self.max_uses, self.lifetime,
                                   int(self.clock()) + self.lifetime, peer_cred, peer_cred_id)
        return tid + struct.pack(">IB", self.lifetime, self.max_uses)

    def get(self, ticket_id):
        t = self.entries.get(ticket_id)
        if t is None:
            raise W.TicketRejectedError("resume_1: unknown ticket %s" % W.hexs(ticket_id))
        late = int(self.clock()) - t.expires
        if late >= 0:
            raise W.TicketRejectedError("resume_1: ticket %s expired %d s ago"
                                        % (W.hexs(ticket_id), late))
        return t

    def prune(self):
        # Forget expired and used-up tickets.
        now = int(self.clock())
        for tid in [k for k, t in self.entries.items() if t.expires <= now or t.use >= t.max_uses]:
            del self.entries[tid]


class ResumeResponder(Exchange):
    def __init__(self, store, rng, trace=None):
        Exchange.__init__(self, rng, trace)
        self._store = store
        self.ticket = None
        self._state({W.RESUME_1: self._on_resume_1}, "waiting for resume_1")

    def _on_resume_1(self, msg):
        c_i, tid, use, binder_got = R.decode_resume_1(msg)
        t = self._store.get(tid)
        if use <= t.use:
            raise W.ReplayError("resume_1: use %d of ticket %s was seen already (latest %d)"
                                % (use, W.hexs(tid), t.use))
        if use > t.max_uses:
            raise W.TicketRejectedError("resume_1: use %d beyond the ticket's %d uses"
                                        % (use, t.max_uses))
        rs = t.secret
        for u in range(t.use + 1, use + 1):
            rs = R.ratchet(rs, tid, u)
        th1 = W.th(msg[:11])
        binder = W.kdf(rs, R.BINDER, th1, R.MAC_LEN)
        for name, v in (("RS_u", rs), ("TH_r1", th1), ("BINDER", binder)):
            self._t(name, v)
        if not backend.equal(binder, binder_got):
            raise W.BadTagError("resume_1: the binder does not verify")
        t.use, t.secret = use, rs
        self._store.entries[tid] = t  # written back: this use is spent from now on
        self.ticket, self.peer_conn_id = t, c_i
        self.conn_id = self._rng(1)[0]
        if self.conn_id == c_i:
            self.conn_id ^= 1
        head = bytes((W.RESUME_2, c_i, self.conn_id)) + bytes(self._rng(R.NONCE_R_LEN))
        th2 = W.th(th1, binder, head)
        r2 = head + W.kdf(rs, R.RESUME_MAC, th2, R.MAC_LEN)
        self._t("TH_r2", th2)
        self._t("resume_2", r2)
        R.session(self, rs, th2, False, t)
        return self._sent(r2)
