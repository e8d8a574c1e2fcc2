# Errors shared by host and device. Small on purpose: callers branch on these three.


class ProtocolError(Exception):
    pass


class DecodeError(ProtocolError):
    # Bytes that do not parse: truncated, oversized, trailing garbage, unknown version or type.
    pass


class VerifyError(ProtocolError):
    # Bytes that parse but do not verify: a signature, a digest or a proof that does not match.
    # When a recomputed value differs from the claimed one, both are kept for the message.
    def __init__(self, msg, expected=None, got=None):
        super().__init__(msg)
        self.expected = expected
        self.got = got
