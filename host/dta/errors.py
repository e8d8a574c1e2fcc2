"""The host's error hierarchy: every error the host raises on purpose derives from DtaError.

Errors about bytes that cross the wire (frames, proofs, notes, transactions) come from the shared
protocol package, ``dtacore.errors`` (ProtocolError > DecodeError, VerifyError, EncodeError), so
that host and device raise the same types for the same bytes; they are re-exported here, and
``USER_ERRORS`` is what a command catches to turn any of them into a sentence for the user.
"""

from dtacore.errors import DecodeError, EncodeError, ProtocolError, VerifyError


class DtaError(Exception):
    """Base of every error the host raises on purpose."""


class ConfigError(DtaError):
    """A configuration file, environment variable, option or board file is malformed."""


class StoreError(DtaError):
    """A local store is unusable (corrupt, wrong schema, locked) or lacks what was asked."""


class ServiceError(DtaError):
    """A service (broker, node, VM, identity provider) could not be started or reached."""


class NodeUnreachable(ServiceError):
    """No answer from the Bitcoin node (connection refused, timeout, HTTP failure)."""


class SessionLost(ServiceError):
    """The gateway's MQTT session was taken over by another client with the same client id."""


class DataDirBusy(DtaError):
    """Another process holds the data directory's lock for the same role (a second gateway)."""


class Undecided(DtaError):
    """A verification could not decide either way (no node and no trusted header to check
    against): neither valid nor invalid."""


class ChainError(DtaError):
    """Anchoring or chain access went wrong in a way the caller should report."""


class RpcError(ChainError):
    """The node answered a JSON-RPC call with an error."""

    def __init__(self, method: str, code: int, message: str):
        super().__init__(f"{method}: {message} (code {code})")
        self.method, self.code, self.message = method, code, message


class AuthorityError(DtaError):
    """The authority's state is missing, already exists, or cannot be unlocked."""


class PassphraseError(AuthorityError):
    """No passphrase could be had (no source, no terminal), or its file is unreadable or open to
    other users."""


class WrongPassphrase(PassphraseError):
    """The passphrase does not open the sealed secrets (or the file was modified)."""


USER_ERRORS = (DtaError, ProtocolError)

__all__ = ["DtaError", "ConfigError", "StoreError", "ServiceError", "NodeUnreachable",
           "SessionLost", "DataDirBusy", "Undecided", "ChainError", "RpcError",
           "AuthorityError", "PassphraseError", "WrongPassphrase", "USER_ERRORS",
           "ProtocolError", "DecodeError", "VerifyError", "EncodeError"]
