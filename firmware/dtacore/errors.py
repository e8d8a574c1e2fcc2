# The device side's error hierarchy, shared with the host for everything that crosses the wire.
# Every error the firmware raises on purpose derives from ProtocolError; callers branch on the
# three below (and on the subclasses a module adds, like merkle.RootMismatchError).


class ProtocolError(Exception):
    pass


class DecodeError(ProtocolError):
    # Bytes that do not parse: truncated, oversized, trailing garbage, unknown version or type.
    pass


class VerifyError(ProtocolError):
    # Bytes that parse but do not verify: a signature, a digest, a key or a proof that does not
    # match. When a recomputed value differs from the claimed one, both are kept for the message.
    def __init__(self, msg, expected=None, got=None):
        super().__init__(msg)
        self.expected = expected
        self.got = got


class EncodeError(ProtocolError):
    # A value given to an encoder or a primitive that it cannot take: out of range or the wrong
    # length (a secret, a digest, a label). A mistake of the caller, never bytes from outside.
    pass
