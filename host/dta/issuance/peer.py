"""One device as the D-TA sees it: its trust requests, its full handshakes (a dtacore Responder),
its resumptions (dtacore.tickets), its sessions, and the application messages inside them.

`DevicePeer.receive(payload) -> [payloads]` takes one TO_DTA payload and returns what to send
back, in order. Every refused message is answered with the handshake's error message (its code
says why: malformed, unknown or untrusted credential, verify failed, unexpected, replay, ticket
rejected, aborted) and changes nothing: the same state still takes the genuine message. An
error message from the device is counted and answered with nothing (two parties never trade
errors). Exact duplicates (a QoS 1 redelivery, a device's retransmission) of message_1,
message_3 and resume_1 get the reply they got the first time (dtacore.exchange); a duplicate
record is a replay (the share request it carried is answered once; a device that retries sends
a new record, and the D-TA answers it from its index).

The device's key is the one the D-TA learned from its verified hello (the registry): the
credential id in message_3 must be the key id the frame is routed by.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

from dta.errors import DtaError
from dta.oidc.text import printable
from dtacore import channel
from dtacore import handshake_wire as W
from dtacore.errors import DecodeError, ProtocolError
from dtacore.handshake_responder import Responder
from dtacore.tickets import ResumeResponder

log = logging.getLogger("dta.issuance")

# Sessions a device may hold with this D-TA at once (a reboot leaves one behind): the oldest
# goes first.
MAX_SESSIONS = 4
# message_1: kind, suite, G_X (32), C_I: the device's connection id is its last byte.
_M1_LEN = 35


class DevicePeer:
    def __init__(self, kid: bytes, ctx):
        self.kid = bytes(kid)
        self.ctx = ctx  # dta.issuance.service.AuthorityService
        self.full: Responder | None = None  # the latest full handshake, kept for duplicates
        self._full_in = self._full_out = None  # its message_1 and message_2
        self.resumed: ResumeResponder | None = None
        self._resume_in = None
        self.sessions: OrderedDict[int, object] = OrderedDict()  # our conn id -> Session
        self.trust_height: int | None = None  # from its last TRUST_REQUEST (unauthenticated)
        self.peer_errors = 0

    # -- dispatch ------------------------------------------------------------------------------

    def receive(self, payload: bytes) -> list[bytes]:
        payload = bytes(payload)
        if payload and payload[0] == channel.TRUST_REQUEST:
            return self._trust(payload)
        if not payload or not channel.HANDSHAKE_FIRST <= payload[0] <= channel.HANDSHAKE_LAST:
            return [W.encode_error(0, 1)]
        try:
            kind, conn = W.peek(payload)
        except DecodeError as exc:
            return [W.encode_error(0, W.error_code(exc))]
        if kind == W.ERROR:
            return self._peer_error(payload)
        if kind == W.MSG_1:
            return self._message_1(payload)
        if kind == W.MSG_3:
            return self._message_3(payload)
        if kind == W.RESUME_1:
            return self._resume_1(payload)
        if kind == W.RECORD:
            return self._record(payload, conn)
        self._refused(W.NAMES[kind], "a message only a D-TA sends")
        return [W.encode_error(0, W.UnexpectedMessageError.code)]

    def _refused(self, what: str, why) -> None:
        self.ctx.emit("refused", key_id=self.kid.hex(), message=what,
                      reason=printable(str(why), 160))

    def _error(self, party, exc: Exception, fallback_conn: int) -> list[bytes]:
        self._refused(type(exc).__name__, exc)
        if party is not None and party.peer_conn_id is not None:
            return [party.error_reply(exc)]
        return [W.encode_error(fallback_conn, W.error_code(exc))]

    def _peer_error(self, payload: bytes) -> list[bytes]:
        self.peer_errors += 1
        try:
            code = W.decode_error(payload)[1]
            name = W.ERR_NAMES[code]
        except DecodeError:
            name = "malformed"
        self.ctx.emit("peer-error", key_id=self.kid.hex(), error=name)
        return []

    # -- trust ---------------------------------------------------------------------------------

    def _trust(self, payload: bytes) -> list[bytes]:
        out, height = self.ctx.trust.answer(payload)
        if height is not None:
            self.trust_height = height
        refused = out[0][0] == channel.TRUST_REFUSED
        self.ctx.emit("trust-refused" if refused else "trust-answered", key_id=self.kid.hex(),
                      height=height, parts=len(out))
        return out

    # -- handshakes ----------------------------------------------------------------------------

    def _lookup(self, cred_id: bytes, ead: bytes):
        if bytes(cred_id) != self.kid:
            raise W.UntrustedCredentialError("message_3: credential id %s is not the key id "
                                             "%s the frame is routed by"
                                             % (bytes(cred_id).hex(), self.kid.hex()))
        return self.ctx.device_key(self.kid)

    def _message_1(self, payload: bytes) -> list[bytes]:
        if self.full is not None and payload == self._full_in:
            self.full.duplicates += 1
            return [self._full_out]
        c = self.ctx
        r = Responder(c.identity_secret, c.identity_pubkey, c.credential_id, c.rng,
                      self._lookup, tickets=c.tickets)
        try:
            m2 = r.receive(payload)
        except ProtocolError as exc:
            return self._error(r, exc, payload[-1] if len(payload) == _M1_LEN else 0)
        self.full, self._full_in, self._full_out = r, payload, m2
        return [m2]

    def _message_3(self, payload: bytes) -> list[bytes]:
        r = self.full
        if r is None:
            self._refused("message_3", "no handshake in progress")
            return [W.encode_error(0, W.UnexpectedMessageError.code)]
        before = r.duplicates
        try:
            m4 = r.receive(payload)
        except ProtocolError as exc:
            return self._error(r, exc, 0)
        if r.duplicates != before:
            return [m4]
        return [m4] + self._established(r.session, "handshake")

    def _resume_1(self, payload: bytes) -> list[bytes]:
        if self.resumed is not None and payload == self._resume_in:
            return [self.resumed.receive(payload)]
        rr = ResumeResponder(self.ctx.tickets, self.ctx.rng)
        try:
            r2 = rr.receive(payload)
        except ProtocolError as exc:
            return self._error(rr, exc, payload[1] if len(payload) > 1 else 0)
        t = rr.ticket
        if t.peer_cred_id != self.kid or self.ctx.device_key(self.kid) != t.peer_cred:
            exc = W.UntrustedCredentialError("resume_1: the ticket is not this device's key")
            return self._error(rr, exc, 0)
        self.resumed, self._resume_in = rr, payload
        return [r2] + self._established(rr.session, "resumed")

    def _established(self, session, how: str) -> list[bytes]:
        self.sessions[session.conn_id] = session
        self.sessions.move_to_end(session.conn_id)
        while len(self.sessions) > MAX_SESSIONS:
            self.sessions.popitem(last=False)
        self.ctx.emit(how, key_id=self.kid.hex())
        if self.trust_height is not None and self.ctx.index.trusted_height(self.kid) is None:
            self.ctx.index.set_trusted_height(self.kid, self.trust_height)
        try:
            pushed = self.ctx.pushes(self.kid)
        except DtaError as exc:  # the session stands; its receipts wait for the next one
            log.error("could not push %s's anchored receipts: %s", self.kid.hex(), exc)
            pushed = []
        return [session.seal(m) for m in pushed]

    # -- sessions ------------------------------------------------------------------------------

    def _record(self, payload: bytes, conn: int) -> list[bytes]:
        s = self.sessions.get(conn)
        if s is None:
            self._refused("record", "for a connection id this D-TA has no session under")
            return [W.encode_error(0, W.UnexpectedMessageError.code)]
        try:
            plain = s.open(payload)
        except ProtocolError as exc:
            self._refused("record", exc)
            return [W.encode_error(s.peer_conn_id, W.error_code(exc))]
        self.sessions.move_to_end(conn)
        try:
            kind, fields = channel.decode_message(plain)
        except DecodeError as exc:
            self._refused("application message", exc)
            return [W.encode_error(s.peer_conn_id, W.MessageDecodeError.code)]
        try:
            out = self._application(s, kind, fields)
        except ProtocolError as exc:  # authentic, but not a message this D-TA takes
            self._refused("application message", exc)
            return [W.encode_error(s.peer_conn_id, W.error_code(exc))]
        except DtaError as exc:  # the log or a store failed: nothing was sent, retry later
            log.error("could not answer %s's message (%s): %s", self.kid.hex(), kind, exc)
            self.ctx.emit("failed", key_id=self.kid.hex(), reason=printable(str(exc), 160))
            return [W.encode_error(s.peer_conn_id, W.AbortedError.code)]
        return [s.seal(m) for m in out]

    def _application(self, s, kind: int, fields: tuple) -> list[bytes]:
        if kind == channel.MSG_SHARE_REQUEST:
            outcome = self.ctx.issuer.request(self.kid, s.peer_cred, fields[0])
            self.ctx.emit("share-issued" if outcome.issued else "share-refused",
                          key_id=self.kid.hex(), epoch=outcome.epoch,
                          log_index=outcome.log_index, new=outcome.new_entry,
                          reason=outcome.reason)
            return outcome.messages
        if kind == channel.MSG_RECEIPT_REQUEST:
            index, height = fields
            self.ctx.index.set_trusted_height(self.kid, height)
            return self.ctx.receipt_messages(self.kid, index, height)
        raise W.UnexpectedMessageError("application message %d is not one a device sends"
                                       % kind)
