# One D-TA as the device sees it (docs/channel.md, 1 and 2): its birth checked from a streamed
# trust bundle, then a session, resumed with the ticket of the last full handshake when there is
# one (no public-key operation), else a full handshake as initiator. The agent (dtanode.agent)
# owns the link; this module asks it for frames from this D-TA (agent.await_dta) and sends with
# agent.to_dta. Each step loads its dtacore modules and unloads them when it is done.
#
#   tk<index>.bin = verified time u64 at issue | dtacore.resumption Ticket.encode()  (a secret:
#                   0600 on the emulator, flash encryption on an ESP32; docs/security.md)
#
# Failures are raised as dtanode.errors.PeerFailure(step, detail): "silent" (the D-TA did not
# answer within its retransmissions), "refused" (it sent an error, or its birth did not check).

import struct
import time

from dtacore import channel
from dtacore.errors import DecodeError, VerifyError
from dtacore.wire import _hex
from dtanode import records
from dtanode.errors import PeerFailure
from dtanode.stages import unload

TICKET_MAGIC = b"DTTK"
# What the full handshake loads and nothing after it needs (the session stays).
HANDSHAKE_MODULES = ("dtacore.handshake", "dtacore.exchange", "dtacore.resumption",
                     "dtacore.ecdsa", "dtacore.ecverify", "dtacore.ecdh", "dtacore.fixedbase",
                     "dtacore.ecmult", "dtacore.gtable", "dtacore.gtable_comb",
                     "dtacore.gtable_wnaf", "dtacore.prepared", "dtacore.secp256k1",
                     "dtacore.der")
# Loaded together before a full handshake: its own code and every curve module it uses (kept
# until it is over: faster than unloading each operation's, at the cost of their heap).
PRELOAD = ("dtacore.handshake", "dtacore.session", "dtacore.resumption", "dtacore.fixedbase",
           "dtacore.ecdh", "dtacore.ecdsa", "dtacore.ecverify", "dtacore.gtable_comb",
           "dtacore.gtable_wnaf")
# What a resumption loads and its session does not use.
RESUME_MODULES = ("dtacore.resumption", "dtacore.exchange")


class DtaPeer:
    def __init__(self, agent, index):
        self.agent = agent
        self.index = index
        self.dta_id = agent.trust.ids[index]
        self.dta8 = self.dta_id[:8]
        self.session = None
        self.resumed = False
        # The device's own compute (us) in the last trust check and session opening, and the
        # public-key operations that opening ran (0 for a resumption): the bench reads them.
        self.trust_us = 0
        self.cpu_us = 0
        self.load_us = 0  # loading the full handshake's modules, apart from its compute
        self.ec_ops = 0
        self._in_party = False
        self.ticket_path = agent.root + "/tk%d.bin" % index

    # -- trust -------------------------------------------------------------------------------

    def key(self):
        known = self.agent.trust.dta(self.index)
        return None if known is None else known[1]

    def verify_birth(self):
        # -> True when trusted (now or before); False when the bundle was refused (reported).
        # The check's code (dtanode.birthcheck) is loaded for it alone.
        if self.key() is not None:
            return True
        from dtanode import birthcheck
        try:
            return birthcheck.verify(self)
        finally:
            birthcheck = None
            unload("dtanode.birthcheck")

    # -- sessions ----------------------------------------------------------------------------

    def open_session(self):
        # Resume if the ticket allows, else a full handshake. -> the session
        from dtacore import backend
        self.cpu_us = self.ec_ops = self.load_us = 0
        saved = {}
        for name in ("pubkey", "shared_x", "sign", "verify"):
            saved[name] = f = getattr(backend, name)
            setattr(backend, name, self._counted(f))
        try:
            return self._open()
        finally:
            for name in saved:
                setattr(backend, name, saved[name])

    def _counted(self, f):
        # Counts the operations of the handshake's own steps (not an ack checked meanwhile).
        def op(*args):
            if self._in_party:
                self.ec_ops += 1
            return f(*args)
        return op

    def _timed(self, f, *args):
        t0 = time.ticks_us()
        self._in_party = True
        try:
            return f(*args)
        finally:
            self._in_party = False
            self.cpu_us += time.ticks_diff(time.ticks_us(), t0)

    def _open(self):
        ticket = self._load_ticket()
        if ticket is not None:
            from dtacore import handshake_wire as W
            try:
                self.session = self._resume(ticket)
                self.resumed = True
                ticket = None  # its class would keep dtacore.resumption loaded
                unload(*RESUME_MODULES)
                return self.session
            except W.PeerError as e:
                if e.code != 8:  # ticket-rejected: fall back to a full handshake
                    raise PeerFailure("refused", str(e)) from None
            except W.TicketRejectedError:
                pass
            self._drop_ticket()
        self.session = self._full()
        self.resumed = False
        return self.session

    def _lookup(self, cred_id, ead):
        if bytes(cred_id) == bytes((self.index,)):
            return self.key()
        return None

    def _exchange(self, party, start):
        # Drive a handshake party: start it, send, wait, retransmit on silence (doubling),
        # until its session is confirmed. Refused messages change nothing and are waited past.
        from dtacore import handshake_wire as W
        self.agent.to_dta(self.dta8, self._timed(start))
        wait = self.agent.cfg["reply_timeout_ms"]
        while party.session is None or not party.session.confirmed:
            p = self.agent.await_dta(self.dta8, wait)
            if p is None:
                try:
                    again = party.retransmit()
                except W.AbortedError:
                    raise PeerFailure("silent", "D-TA %s did not answer the handshake"
                                      % _hex(self.dta8)) from None
                self.agent.to_dta(self.dta8, again)
                wait *= 2
                continue
            if not channel.HANDSHAKE_FIRST <= p[0] <= channel.HANDSHAKE_LAST or p[0] == W.RECORD:
                continue
            try:
                out = self._timed(party.receive, p)
            except (W.PeerError, W.AbortedError) as e:
                raise PeerFailure("refused", str(e)) from None
            except (DecodeError, VerifyError, W.UnexpectedMessageError):
                continue
            if out is not None:
                self.agent.to_dta(self.dta8, out)
        return party.session

    def _preload(self):
        # The full handshake's code, loaded before its compute is timed (on an ESP32 these
        # modules are frozen into flash: loading them is not the handshake's work there).
        t0 = time.ticks_us()
        for name in PRELOAD:
            __import__(name)
        self.load_us = time.ticks_diff(time.ticks_us(), t0)

    def _full(self):
        from dtacore import handshake
        self._preload()
        a = self.agent
        i = handshake.Initiator(a.secret, a.pubkey, a.kid, a.rng, self._lookup, unload=False)
        try:
            session = self._exchange(i, i.start)
            if i.ticket is not None:
                self._store_ticket(i.ticket)
        finally:
            i = None
            unload(*HANDSHAKE_MODULES)
        return session

    def _resume(self, ticket):
        from dtacore import resumption
        ri = resumption.ResumeInitiator(ticket, self.agent.rng, lookup=self._lookup)
        r1 = self._timed(ri.start)  # raises TicketRejectedError for a used-up ticket
        self._store_ticket(ticket)  # the use number is spent before resume_1 leaves
        return self._exchange(ri, lambda: r1)

    def _store_ticket(self, ticket):
        records.store(self.ticket_path, TICKET_MAGIC,
                      struct.pack(">Q", self.agent.clock.now()) + ticket.encode())

    def _load_ticket(self):
        from dtacore import resumption
        try:
            raw = records.load(self.ticket_path, TICKET_MAGIC)
            issued = struct.unpack(">Q", raw[:8])[0]
            ticket = resumption.decode_ticket(raw[8:])
        except (records.Missing, DecodeError):
            return None
        self.agent.clock.learn(issued)
        if ticket.use >= ticket.max_uses or (
                issued and self.agent.clock.now() > issued + ticket.lifetime):
            self._drop_ticket()
            return None  # expired by the device's verified time, or used up
        return ticket

    def _drop_ticket(self):
        import os
        try:
            os.remove(self.ticket_path)
        except OSError:
            pass

    # -- records -----------------------------------------------------------------------------

    def send(self, message):
        self.agent.to_dta(self.dta8, self.session.seal(message))

    def receive(self, wait_ms):
        # -> the next application message (plaintext) from this D-TA, or None when quiet.
        from dtacore import handshake_wire as W
        while True:
            p = self.agent.await_dta(self.dta8, wait_ms)
            if p is None:
                return None
            if p[0] != W.RECORD:
                continue
            try:
                return self.session.open(p)
            except (DecodeError, VerifyError, W.UnexpectedMessageError):
                continue  # a duplicate (replay window), a stale session's record
