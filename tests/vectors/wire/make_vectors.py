"""Regenerate tests/vectors/wire/hello.json (python -m tests.vectors.wire.make_vectors).

The signature is coincurve's deterministic RFC 6979 signature (no extra entropy), so the file is
reproducible and independent of the firmware's own ECDSA code, which the tests compare against it.
"""

import hashlib
import json
from pathlib import Path

import coincurve

from dtacore import wire

HERE = Path(__file__).parent


def hello_vector(secret: bytes, boot: int, board: str, firmware: str) -> dict:
    key = coincurve.PrivateKey(secret)
    pub = key.public_key.format(compressed=True)
    unsigned = wire.hello_unsigned(pub, boot, board, firmware)
    digest = wire.hello_digest(unsigned)
    # libsecp256k1 signs with RFC 6979 nonces and normalises to low-S; r||s is the compact form.
    compact = key.sign_recoverable(digest, hasher=None)[:64]
    return {"secret": secret.hex(), "pubkey": pub.hex(), "key_id": wire.key_id(pub).hex(),
            "boot": boot, "board": board, "firmware": firmware, "digest": digest.hex(),
            "signature": compact.hex(), "frame": (unsigned + compact).hex()}


def main() -> None:
    secret = hashlib.sha256(b"dta test vector: hello device 1").digest()
    vec = hello_vector(secret, 7, "esp32-devkitc", "0.1.0")
    (HERE / "hello.json").write_text(json.dumps(vec, indent=2) + "\n")


if __name__ == "__main__":
    main()
