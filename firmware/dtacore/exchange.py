# The message rules every handshake party follows, full or resumed (docs/handshake.md, "Lost and
# duplicated messages"): an exact duplicate of the last message accepted gets the same reply
# again; a timeout lets the sender retransmit its last message (retransmit()); any other
# message the state does not take is an UnexpectedMessageError; a refused message changes
# nothing (the same state still takes the genuine message), and an error message from the peer
# raises PeerError without changing anything either.

from dtacore import handshake_wire as W
from dtacore.errors import DecodeError, VerifyError
from dtacore.handshake_wire import const

# With the recommended backoff (2, 4, 8, 16 s) a sender gives up after ~30 s of silence.
MAX_RETRANSMITS = const(4)
# Each refused message_2 costs the initiator an ECDH and a verification (~1 s on an ESP32):
# after this many refused messages a party stops working for the sender of garbage.
MAX_REFUSED = const(3)


class Exchange:
    def __init__(self, rng, trace):
        self._rng = rng
        self._trace = trace
        self._expect = {}  # kind -> handler for the current state
        self._waiting = "not started"
        self._last_in = None
        self._reply = None
        self._last_out = None
        self.conn_id = None  # this party's connection id (the peer addresses us with it)
        self.peer_conn_id = None
        self.session = None
        self.retransmits = 0
        self.refused = 0
        self.duplicates = 0

    def receive(self, msg):
        # The reply to send (bytes) or None. Raises the typed errors of handshake_wire.
        msg = bytes(msg)
        if self._last_in is not None and msg == self._last_in:
            self.duplicates += 1
            return self._reply
        kind, conn_id = W.peek(msg)
        if conn_id is not None and self.conn_id is not None and conn_id != self.conn_id:
            raise W.UnexpectedMessageError("%s for connection %02x, this one is %02x"
                                           % (W.NAMES[kind], conn_id, self.conn_id))
        if kind == W.ERROR:
            code = W.decode_error(msg)[1]
            raise W.PeerError("the peer refused our message: %s (error code %d)"
                              % (W.ERR_NAMES[code], code), code)
        handler = self._expect.get(kind)
        if handler is None:
            raise W.UnexpectedMessageError("%s while %s" % (W.NAMES[kind], self._waiting))
        if self.refused >= MAX_REFUSED:
            raise W.AbortedError("%d messages refused already: start a new handshake"
                                 % self.refused)
        try:
            reply = handler(msg)
        except (DecodeError, VerifyError):
            self.refused += 1
            raise
        self._last_in = msg
        self._reply = reply
        if reply is not None:
            self._last_out = reply
        return reply

    def retransmit(self):
        # The last message sent, again (call on a timeout), or None if nothing was sent.
        if self._last_out is None:
            return None
        if self.retransmits >= MAX_RETRANSMITS:
            raise W.AbortedError("no answer after %d retransmissions: start a new handshake"
                                 % self.retransmits)
        self.retransmits += 1
        return self._last_out

    def error_reply(self, exc):
        # The error message that tells the peer why its message was refused.
        peer = self.peer_conn_id if self.peer_conn_id is not None else 0
        return W.encode_error(peer, W.error_code(exc))

    def _state(self, expect, waiting):
        self._expect = expect
        self._waiting = waiting

    def _sent(self, msg):
        self._last_out = msg
        return msg

    def _t(self, name, value):
        if self._trace is not None:
            self._trace(name, value)
