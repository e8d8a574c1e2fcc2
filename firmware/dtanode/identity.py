# The device identity: a secp256k1 key made on the device from tested entropy, stored atomically,
# reused across restarts. A damaged key file is reported, never silently replaced (a new key would
# be a new device to the fleet).

from dtacore.errors import DecodeError, ProtocolError
from dtanode import records

KEY_MAGIC = b"DTKY"
STATE_MAGIC = b"DTAS"
KEY_FILE = "key.bin"
STATE_FILE = "state.bin"


class IdentityError(ProtocolError):
    pass


def load_or_create(root, source):
    # Returns (secret, pubkey, created). The curve modules load here, not for next_boot.
    from dtacore import secp256k1
    from dtacore.fixedbase import pubkey
    path = root + "/" + KEY_FILE
    try:
        secret = records.load(path, KEY_MAGIC)
    except records.Missing:
        secret = None
    except DecodeError as e:
        raise IdentityError("key file unreadable (%s); re-provision the device" % e) from None
    if secret is not None:
        if len(secret) != 32 or not secp256k1.valid_secret(secret):
            raise IdentityError("key file holds an invalid secret; re-provision the device")
        return secret, pubkey(secret), False
    secret = source.secret()
    while not secp256k1.valid_secret(secret):
        secret = source.secret()
    records.store(path, KEY_MAGIC, secret)
    return secret, pubkey(secret), True


def next_boot(root):
    # Increment and persist the boot counter before anything is signed with it, so a counter value
    # is never used twice even if the device dies right after sending.
    path = root + "/" + STATE_FILE
    try:
        boot = int.from_bytes(records.load(path, STATE_MAGIC), "big")
    except records.Missing:
        boot = 0
    except DecodeError as e:
        raise IdentityError("state file unreadable (%s)" % e) from None
    boot += 1
    records.store(path, STATE_MAGIC, boot.to_bytes(4, "big"))
    return boot
