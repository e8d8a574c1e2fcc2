# Device events: the one small API firmware code raises events through, and their way to the
# log. emit(kind, payload) queues an event; the agent signs what is queued (one ECDSA signature
# each, over dtacore.entries.event_digest, with a fresh event id from the outbox), stores the
# EVENT frames in the outbox in one flash write, sends them, and forgets them when the gateway's
# EVENT_ACK (signed by a D-TA the device verified itself) covers their ids.
#
#   from dtanode import events
#   events.emit(0x80, b"door opened")        -> True, or False when rate-limited or refused
#
# Application kinds are dtacore.channel.APP_EVENT (0x80) and up; they are rate-limited on the
# device (cfg["event_rate"] per minute, a token bucket allowing that many at once), so a chatty
# application cannot wear the flash or flood the broker. The firmware's own kinds (boot,
# handshake, shares combined, receipt, trust, report) are bounded by the agent itself.

from dtacore import channel

# Events queued and not yet signed; beyond this they are refused (emit -> False).
MAX_PENDING = 8
_current = None


def emit(kind, payload=b""):
    if _current is None:
        return False
    return _current.emit(kind, payload)


class Events:
    def __init__(self, outbox, kid, pubkey, rate_per_min, ticks_ms):
        global _current
        self.outbox = outbox
        self.kid = kid
        self.pubkey = pubkey
        self.rate = rate_per_min
        self.ticks = ticks_ms
        self.tokens = rate_per_min
        self.filled = ticks_ms()
        self.pending = []
        self.refused = 0  # app events refused by the rate limit, for the report
        _current = self

    def _allow(self):
        now = self.ticks()
        import time
        got = time.ticks_diff(now, self.filled) * self.rate // 60000
        if got:
            self.tokens = min(self.rate, self.tokens + got)
            self.filled = now
        if self.tokens <= 0:
            return False
        self.tokens -= 1
        return True

    def emit(self, kind, payload):
        # The payload's limit (dtacore.entries.MAX_EVENT_PAYLOAD) is checked when it is signed:
        # entries' code is loaded only then.
        payload = bytes(payload)
        if not 0 <= kind <= 0xFF:
            return False
        if len(self.pending) >= MAX_PENDING or (kind >= channel.APP_EVENT and not self._allow()):
            self.refused += 1
            return False
        self.pending.append((kind, payload))
        return True

    def seal(self, secret, rng):
        # Sign every queued event and store the frames in the outbox (one write). -> count
        if not self.pending:
            return 0
        from dtacore import ecdsa, entries
        frames = []
        for kind, payload in self.pending:
            if len(payload) > entries.MAX_EVENT_PAYLOAD:
                self.refused += 1
                continue
            i = self.outbox.take_id()
            digest = entries.event_digest(self.pubkey, i, kind, payload)
            sig = ecdsa.sign(secret, digest, rng(32))
            frames.append(channel.event_frame(self.kid, i, kind, payload, sig))
        if frames:
            self.outbox.add(frames)
        n = len(frames)
        self.pending = []
        return n

    def on_ack(self, frame, dta_key):
        # An EVENT_ACK: dta_key(dta8) -> the identity key of a D-TA the device verified, or
        # None. -> the id acknowledged, or None for an ack this device does not take.
        from dtacore import backend
        kid, upto, dta8, sig = channel.decode_ack(frame)
        key = dta_key(dta8)
        if kid != self.kid or key is None:
            return None
        if not backend.verify(key, channel.ack_digest(kid, upto), sig):
            return None
        self.outbox.ack(upto)
        return upto
