# Shim for embit on MicroPython (which has no hmac module): embit.util.key only calls
# hmac.new(key, msg, "sha256").digest(). Built on dtacore.hmac. Not a copy of embit code.
from dtacore.hmac import hmac_sha256


class _Mac:
    def __init__(self, digest):
        self._digest = digest

    def digest(self):
        return self._digest


def new(key, msg=b"", digestmod=None):
    return _Mac(hmac_sha256(key, msg))
