# The device agent's own errors, on the device side's one base (dtacore.errors.ProtocolError).
# Each module that raises one of its own defines it; this one holds those two modules share.

from dtacore.errors import ProtocolError


class ConfigError(ProtocolError):
    # board.json or config.json is missing, malformed or holds a value the device refuses.
    pass


class PeerFailure(ProtocolError):
    # A step with a D-TA failed (dtanode.dtapeer, dtanode.birthcheck): step is "silent" (no
    # answer within the retransmissions) or "refused" (an error, or a birth that did not check).
    def __init__(self, step, detail):
        super().__init__("%s: %s" % (step, detail))
        self.step = step
