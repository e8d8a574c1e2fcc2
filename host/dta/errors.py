"""The host's small error hierarchy.

Wire and proof errors come from the shared protocol package (``dtacore.errors``) so that host and
device raise the same types for the same bytes; they are re-exported here.
"""

from dtacore.errors import DecodeError, ProtocolError, VerifyError


class DtaError(Exception):
    """Base of every error the host raises on purpose."""


class ConfigError(DtaError):
    """A configuration file, environment variable or option is malformed."""


class StoreError(DtaError):
    """The local store is unusable (corrupt, wrong schema, locked)."""


class ServiceError(DtaError):
    """A local service (broker, node, VM) could not be started or reached."""


__all__ = ["DtaError", "ConfigError", "StoreError", "ServiceError",
           "ProtocolError", "DecodeError", "VerifyError"]
