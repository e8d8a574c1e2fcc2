"""What a node's JSON-RPC answers are allowed to look like, as typed values.

Every answer the anchoring code reads goes through one of these checks, so a node that answers
garbage (a missing key, a number where a hex string belongs, an amount with more than eight
decimals, a list where an object belongs) raises `MalformedReply` naming the method and the
field, never a KeyError or TypeError from deep inside the anchorer. The decoded records are
immutable; amounts are integers in satoshis; scripts and witness items are bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal, InvalidOperation

from dta.errors import ChainError

COIN = 100_000_000
# No amount or fee rate a node reports can exceed the 21 million BTC that will ever exist.
MAX_MONEY = 21_000_000 * COIN
# Heights, counts and vout indices fit a signed 32-bit integer in Core (and a block holds at most
# ~25,000 outputs): anything larger is not a value a node computed.
MAX_INDEX = (1 << 31) - 1
# nSequence and nLockTime are unsigned 32-bit fields.
MAX_U32 = (1 << 32) - 1
# Coinbase outputs can be spent only after 100 blocks (consensus).
COINBASE_MATURITY = 100
_HEX = re.compile(r"[0-9a-fA-F]*")


class MalformedReply(ChainError):
    """The node answered, but not in the shape its RPC documentation gives (or the answer
    contradicts what was asked): the reply is refused and nothing is changed."""


def obj(value, what: str) -> dict:
    if not isinstance(value, dict):
        raise MalformedReply(f"{what} is not a JSON object")
    return value


def seq(value, what: str) -> list:
    if not isinstance(value, list):
        raise MalformedReply(f"{what} is not a JSON array")
    return value


def key(mapping: dict, name: str, what: str):
    if name not in mapping:
        raise MalformedReply(f"{what} has no {name!r} field")
    return mapping[name]


def integer(value, what: str, lo: int = 0, hi: int = MAX_INDEX) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise MalformedReply(f"{what} is not an integer in {lo}..{hi}")
    return value


def text(value, what: str, max_len: int = 4096) -> str:
    if not isinstance(value, str) or len(value) > max_len:
        raise MalformedReply(f"{what} is not a string of at most {max_len} characters")
    return value


def hex_bytes(value, what: str, size: int | None = None) -> bytes:
    if not isinstance(value, str) or not _HEX.fullmatch(value) or len(value) % 2:
        raise MalformedReply(f"{what} is not a hex string")
    if size is not None and len(value) != 2 * size:
        raise MalformedReply(f"{what} is not {size} bytes of hex")
    return bytes.fromhex(value)


def hash_hex(value, what: str) -> str:
    """A txid or block hash as RPC shows it: 64 hex digits, returned lower-case."""
    return hex_bytes(value, what, 32).hex()


def amount(value, what: str) -> int:
    """A BTC amount (JSON number, parsed as Decimal) in satoshis: exact, 0..21e6 BTC."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise MalformedReply(f"{what} is not a number")
    try:
        sats = Decimal(value) * COIN
        if not sats.is_finite() or sats != sats.to_integral_value():
            raise MalformedReply(f"{what} is not a whole number of satoshis")
    except InvalidOperation:
        raise MalformedReply(f"{what} is not a number") from None
    if not 0 <= sats <= MAX_MONEY:
        raise MalformedReply(f"{what} is outside 0..21,000,000 BTC")
    return int(sats)


def rate(value, what: str) -> int:
    """A fee rate in BTC per 1000 vB as nodes report it, in sat per 1000 vB (rounded up: a
    floor read from the node must never come out lower than the node's)."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise MalformedReply(f"{what} is not a number")
    try:
        sats = Decimal(value) * COIN
        if not sats.is_finite():
            raise MalformedReply(f"{what} is not a finite number")
    except InvalidOperation:
        raise MalformedReply(f"{what} is not a number") from None
    if not 0 <= sats <= MAX_MONEY:
        raise MalformedReply(f"{what} is outside 0..21,000,000 BTC per kvB")
    return int(sats.to_integral_value(rounding=ROUND_CEILING))


@dataclass(frozen=True)
class TxIn:
    txid: str | None          # None for a coinbase input
    vout: int | None
    witness: tuple[bytes, ...]
    sequence: int


@dataclass(frozen=True)
class TxOut:
    n: int
    value: int                # satoshis
    script: bytes


@dataclass(frozen=True)
class ChainTx:
    """A decoded transaction as getrawtransaction (verbose) or getblock (decoded) shows it."""

    txid: str
    inputs: tuple[TxIn, ...]
    outputs: tuple[TxOut, ...]
    block_hash: str | None = None
    confirmations: int = 0

    @property
    def coinbase(self) -> bool:
        return bool(self.inputs) and self.inputs[0].txid is None


@dataclass(frozen=True)
class Unspent:
    """gettxout: an unspent output as the node sees it (mempool spends included)."""

    value: int
    script: bytes
    confirmations: int
    coinbase: bool


def _txin(raw, what: str) -> TxIn:
    raw = obj(raw, what)
    witness = tuple(hex_bytes(w, f"{what} witness item")
                    for w in seq(raw.get("txinwitness", []), f"{what} txinwitness"))
    sequence = integer(key(raw, "sequence", what), f"{what} sequence", 0, MAX_U32)
    if "coinbase" in raw:
        hex_bytes(raw["coinbase"], f"{what} coinbase")
        return TxIn(None, None, witness, sequence)
    return TxIn(hash_hex(key(raw, "txid", what), f"{what} txid"),
                integer(key(raw, "vout", what), f"{what} vout"), witness, sequence)


def _txout(raw, what: str) -> TxOut:
    raw = obj(raw, what)
    spk = obj(key(raw, "scriptPubKey", what), f"{what} scriptPubKey")
    return TxOut(integer(key(raw, "n", what), f"{what} n"),
                 amount(key(raw, "value", what), f"{what} value"),
                 hex_bytes(key(spk, "hex", f"{what} scriptPubKey"), f"{what} scriptPubKey hex"))


def chain_tx(raw, what: str) -> ChainTx:
    raw = obj(raw, what)
    txid = hash_hex(key(raw, "txid", what), f"{what} txid")
    what = f"{what} {txid[:16]}"
    inputs = tuple(_txin(v, f"{what} vin[{i}]")
                   for i, v in enumerate(seq(key(raw, "vin", what), f"{what} vin")))
    outputs = tuple(_txout(v, f"{what} vout[{i}]")
                    for i, v in enumerate(seq(key(raw, "vout", what), f"{what} vout")))
    if not inputs:
        raise MalformedReply(f"{what} has no inputs")
    if [o.n for o in outputs] != list(range(len(outputs))):
        raise MalformedReply(f"{what} outputs are not numbered 0..{len(outputs) - 1}")
    block = raw.get("blockhash")
    conf = raw.get("confirmations", 0)
    return ChainTx(txid, inputs, outputs,
                   hash_hex(block, f"{what} blockhash") if block else None,
                   integer(conf, f"{what} confirmations", -1) if block else 0)


def unspent(raw, what: str) -> Unspent | None:
    if raw is None:
        return None
    raw = obj(raw, what)
    spk = obj(key(raw, "scriptPubKey", what), f"{what} scriptPubKey")
    return Unspent(amount(key(raw, "value", what), f"{what} value"),
                   hex_bytes(key(spk, "hex", f"{what} scriptPubKey"), f"{what} scriptPubKey hex"),
                   integer(key(raw, "confirmations", what), f"{what} confirmations"),
                   raw.get("coinbase") is True)
