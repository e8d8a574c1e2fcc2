"""The trust bundle a D-TA sends a device (dtacore.trust): its Birth Record, the birth
transaction, its merkle proof and the headers after the device's trusted header, from the node.
The device checks all of it itself; nothing here is trusted by it."""

from __future__ import annotations

from dta.anchor.rpc import Node
from dta.errors import ChainError
from dtacore import trust

# A device further behind than this is sent the most recent headers it asked for in several
# bundles (it asks again from its new tip); one bundle stays a bounded burst on the broker.
MAX_BUNDLE_HEADERS = 2016


def headers_after(node: Node, height: int, last: int | None = None) -> bytes:
    """The block headers at heights height+1 .. last (default: the node's tip)."""
    tip = node.height() if last is None else last
    if not 0 <= height <= tip:
        raise ChainError(f"the device's trusted height {height} is not on the node's chain "
                         f"(tip {tip})")
    if tip - height > MAX_BUNDLE_HEADERS:
        raise ChainError(f"{tip - height} headers after height {height}: more than one bundle "
                         f"holds ({MAX_BUNDLE_HEADERS}); provision a later checkpoint")
    return b"".join(bytes.fromhex(node.header_hex(node.block_hash(h)))
                    for h in range(height + 1, tip + 1))


def birth_bundle(node: Node, *, record: bytes, raw_tx: bytes, txid: str, block_hash: str,
                 from_height: int) -> list[bytes]:
    """The parts of a trust bundle for a device whose trusted header is at from_height."""
    proof = bytes.fromhex(node.txout_proof(txid, block_hash))
    return trust.encode_parts(record, raw_tx, proof, headers_after(node, from_height))
