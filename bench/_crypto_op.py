# One dtacore operation, three times, on the VM (bench/crypto.py probes the smallest heap
# in which it runs). Imports only what the operation needs, as a device would.
# "tables", "resident": the G tables' first-use cost, the heap of the loaded code and tables
# (bench/_crypto_tables.py, kept out of this module so its code is not in the probed heap).
# The handshake collects garbage between its steps, as a device does between the messages
# (the steps are separated by network round trips anyway).
import gc
import sys

SECRET = bytes(range(1, 33))
PEER = bytes(range(7, 39))
EXTRA = bytes(range(100, 132))
DIGEST = bytes(range(200, 232))
PUB = bytes.fromhex("0284bf7562262bbd6940085748f3be6afa52ae317155181ece31b66351ccffa4b0")
SIG = bytes.fromhex("defe5e912c08cf30818ce02c036f8432e4bf039f678c904b38db7ea02ab622d4"
                    "74356a2fc798508c3c5295a62a8ecab62ed1085bada705d107f95663d39cc448")


def run(name):
    if name in ("keygen", "handshake"):
        from dtacore import fixedbase
        fixedbase.pubkey(PEER)
    if name in ("ecdh", "handshake"):
        gc.collect()
        from dtacore import ecdh
        ecdh.shared_x(SECRET, PUB)
    if name in ("sign", "handshake"):
        gc.collect()
        from dtacore import ecdsa
        ecdsa.sign(SECRET, DIGEST, EXTRA)
    if name in ("verify", "handshake"):
        gc.collect()
        from dtacore import ecdsa
        if not ecdsa.verify(PUB, DIGEST, SIG):
            raise ValueError("verify failed")
    if name == "verify_prepared":
        from dtacore import ecdsa
        if not ecdsa.verify(_prepared(), DIGEST, SIG):
            raise ValueError("verify failed")


_key = []


def _prepared():
    if not _key:
        from dtacore import ecdsa
        _key.append(ecdsa.prepare(PUB))
    return _key[0]


if sys.argv[1] in ("tables", "resident"):
    import _crypto_tables  # noqa: F401 (prints when imported)
else:
    for _ in range(3):
        run(sys.argv[1])
    print("ok")
