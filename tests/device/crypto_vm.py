# MicroPython-side runner for the crypto tests (not collected by pytest): reads case lines
# (format in tests/fixtures/crypto.py) from stdin, one at a time, and prints "<id> <result>"
# (bytes as hex, "-" for empty, "ERR <class>" for an exception).
# Uses the pure dtacore modules directly, as the device does.
import gc
import sys
from binascii import hexlify, unhexlify


def ux(s):
    return b"" if s == "-" else unhexlify(s)


def hx(b):
    return hexlify(b).decode() if b else "-"


def write_hex(b):
    # bytes results are streamed as hex in pieces: an 8 KiB HKDF output never becomes one string
    if not b:
        sys.stdout.write("-")
    for i in range(0, len(b), 256):
        sys.stdout.write(hexlify(b[i:i + 256]))


_prepared = [None, None]  # the last prepared key (kind P), as a device keeps its D-TA's key


def run(f):
    # Modules are imported per kind, so a run of one kind fits a 32 KiB heap.
    kind = f[0]
    if kind == "V":
        from dtacore import ecdsa
        return "1" if ecdsa.verify_der(ux(f[2]), ux(f[3]), ux(f[4]), f[5] == "1") else "0"
    if kind == "P":
        from dtacore import ecdsa
        if _prepared[0] != f[2]:
            _prepared[1] = None
            _prepared[1] = ecdsa.prepare(ux(f[2]))
            _prepared[0] = f[2]
        return "1" if ecdsa.verify_der(_prepared[1], ux(f[3]), ux(f[4]), f[5] == "1") else "0"
    if kind == "W":
        from dtacore import ecdsa
        return "1" if ecdsa.verify(ux(f[2]), ux(f[3]), ux(f[4])) else "0"
    if kind == "E":
        from dtacore import ecdh
        return ecdh.shared_x(ux(f[2]), ux(f[3]))
    if kind == "H":
        from dtacore import hmac
        return hmac.hmac_sha256(ux(f[2]), ux(f[3]))
    if kind == "K":
        from dtacore import hkdf
        return hkdf.hkdf(ux(f[2]), ux(f[3]), ux(f[4]), int(f[5]))
    if kind == "C" or kind == "c":
        # the pure CCM over the backend's raw AES (cryptolib on the VM)
        from dtacore import backend, ccm
        key, nonce, tag = ux(f[2]), ux(f[3]), int(f[6])
        ccm.check(key, nonce, tag)
        op = ccm.decrypt if kind == "C" else ccm.encrypt
        return op(backend.aes(key), nonce, ux(f[5]), ux(f[4]), tag)
    if kind == "S":
        from dtacore import ecdsa
        from dtacore.fixedbase import pubkey
        secret = ux(f[2])
        return hx(pubkey(secret)) + " " + hx(ecdsa.sign(secret, ux(f[3]), ux(f[4])))
    return "ERR unknown-kind"


def main():
    while True:
        line = sys.stdin.readline()
        if not line:
            break
        f = line.split()
        if not f:
            continue
        try:
            out = run(f)
        except Exception as e:  # reported to the host test, which decides
            out = "ERR " + type(e).__name__
        sys.stdout.write(f[1] + " ")
        if isinstance(out, str):
            sys.stdout.write(out)
        else:
            write_hex(out)
        sys.stdout.write("\n")
        f = None
        gc.collect()


if __name__ == "__main__":
    main()
