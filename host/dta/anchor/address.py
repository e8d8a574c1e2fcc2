"""P2WPKH scripts and their bech32 addresses (BIP 141 / BIP 173), for an explicit HRP."""

from __future__ import annotations

import hashlib

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def hash160(data: bytes) -> bytes:
    return hashlib.new("ripemd160", hashlib.sha256(data).digest()).digest()


def p2wpkh_script(pubkey: bytes) -> bytes:
    """OP_0 <20-byte HASH160(compressed pubkey)>."""
    if len(pubkey) != 33:
        raise ValueError("P2WPKH needs a 33-byte compressed public key")
    return b"\x00\x14" + hash160(pubkey)


def _polymod(values) -> int:
    chk = 1
    for v in values:
        top = chk >> 25
        chk = ((chk & 0x1FFFFFF) << 5) ^ v
        for i in range(5):
            if (top >> i) & 1:
                chk ^= _GEN[i]
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _to_5bit(data: bytes) -> list[int]:
    acc = bits = 0
    out = []
    for byte in data:
        acc = (acc << 8) | byte
        bits += 8
        while bits >= 5:
            bits -= 5
            out.append((acc >> bits) & 31)
    if bits:
        out.append((acc << (5 - bits)) & 31)
    return out


def segwit_v0_address(hrp: str, program: bytes) -> str:
    data = [0] + _to_5bit(program)
    poly = _polymod(_hrp_expand(hrp) + data + [0] * 6) ^ 1
    checksum = [(poly >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_CHARSET[d] for d in data + checksum)


def p2wpkh_address(hrp: str, pubkey: bytes) -> str:
    return segwit_v0_address(hrp, hash160(pubkey))
