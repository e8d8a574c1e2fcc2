"""Why a node refused a transaction, in the node's words, sorted into what the anchorer can do
about it (docs/anchoring.md, "When the node refuses").

Bitcoin Core says why: `testmempoolaccept` returns a `reject-reason`, `sendrawtransaction`
fails with code -26 and the reason, -25 for missing or spent inputs, -27 when the transaction is
already in the chain. A node without `testmempoolaccept` that answers `sendrawtransaction`
before its mempool has decided (bcoin 1.0.2: it only logs the refusal) cannot be asked; for it
`diagnose` reads the node's state (are the inputs unspent, is the transaction final, does it pay
the node's floor) and says what that shows, marked as inferred.
"""

from __future__ import annotations

from dataclasses import dataclass

from bitcoin.core import CTransaction, b2lx

from dta.anchor.fees import fee_for
from dta.anchor.replies import COINBASE_MATURITY, MAX_U32
from dta.anchor.tx import vsize_of
from dta.errors import ChainError

ALREADY_KNOWN = "already known"   # the node holds this very transaction: nothing to do
CONFLICT = "conflict"             # an input is spent by another transaction, or unknown
FEE_TOO_LOW = "fee too low"       # under the node's floor, or short of what a replacement owes
NON_FINAL = "non-final"           # valid only from a later block (locktime, coinbase maturity)
NON_STANDARD = "non-standard"     # this node's policy refuses it (e.g. segwit not active yet)
OTHER = "other"
KINDS = (ALREADY_KNOWN, CONFLICT, FEE_TOO_LOW, NON_FINAL, NON_STANDARD, OTHER)

# Reject reasons by class, matched as case-insensitive prefixes of the node's message (Core
# appends details: "min relay fee not met, 100 < 191"). Bitcoin Core's strings (validation.cpp,
# policy/, util/error.cpp) and bcoin 1.0.2's (mempool/mempool.js). First match wins.
_REASONS = (
    (ALREADY_KNOWN, ("txn-already-in-mempool", "txn-already-known",
                     "txn-same-nonwitness-data-in-mempool", "transaction already in block chain",
                     "transaction outputs already in utxo set")),
    (FEE_TOO_LOW, ("min relay fee not met", "mempool min fee not met", "insufficient fee",
                   "insufficient priority", "mempool full", "rate limited free transaction")),
    (CONFLICT, ("txn-mempool-conflict", "bad-txns-inputs-spent", "bad-txns-inputs-missingorspent",
                "bad-txns-spends-conflicting-tx", "missing-inputs", "missing inputs",
                "inputs missing or spent")),
    (NON_FINAL, ("non-final", "non-bip68-final", "bad-txns-premature-spend-of-coinbase")),
    (NON_STANDARD, ("scriptpubkey", "dust", "tx-size", "version", "multi-op-return",
                    "bare-multisig", "scriptsig-size", "scriptsig-not-pushonly", "datacarrier",
                    "bad-txns-nonstandard-inputs", "bad-witness-nonstandard", "no-witness-yet",
                    "premature-version2-tx", "replace-by-fee", "too-long-mempool-chain",
                    "too many potential replacements", "replacement-adds-unconfirmed")),
)
# Core's RPC_VERIFY_ALREADY_IN_CHAIN (renamed RPC_VERIFY_ALREADY_IN_UTXO_SET in v28).
CODE_ALREADY_IN_CHAIN = -27
# How many mempool transactions a diagnosis reads looking for a double spend (only for a node
# whose gettxout ignores mempool spends and that has no testmempoolaccept: a test node, or a
# small one); past this it says it could not tell.
MAX_MEMPOOL_SCAN = 5000
# How much of a node's message is kept: Core's longest reasons (replacement fee details) are
# ~200 characters.
MAX_REASON = 300


@dataclass(frozen=True)
class Refusal:
    kind: str
    reason: str            # the node's words, or (inferred) what the node's state shows
    inferred: bool = False
    code: int | None = None

    def describe(self) -> str:
        source = ("inferred from the node's state: this node does not say why" if self.inferred
                  else "the node's reason")
        return f"{self.kind}: {self.reason} ({source})"

    def as_dict(self) -> dict:
        return {"kind": self.kind, "reason": self.reason, "inferred": self.inferred,
                "code": self.code}


class TxRefused(ChainError):
    """The node did not take a transaction; `refusal` says why and which class it is."""

    def __init__(self, txid: str, refusal: Refusal):
        super().__init__(f"the node refused {txid}: {refusal.describe()}")
        self.txid, self.refusal = txid, refusal


def classify(reason: str, code: int | None = None) -> Refusal:
    """The class of a reject reason or sendrawtransaction error message."""
    reason = str(reason)[:MAX_REASON]
    low = reason.lower()
    for kind, prefixes in _REASONS:
        if low.startswith(prefixes):
            return Refusal(kind, reason, False, code)
    if code == CODE_ALREADY_IN_CHAIN:
        return Refusal(ALREADY_KNOWN, reason, False, code)
    return Refusal(OTHER, reason, False, code)


def _final(tx: CTransaction, tip: int, median_time) -> bool:
    # Consensus finality (BIP 113): a locktime below the next block's height (or below the tip's
    # median time past, for a time lock) or every input's sequence at 0xffffffff.
    if tx.nLockTime == 0 or all(i.nSequence == MAX_U32 for i in tx.vin):
        return True
    if tx.nLockTime < 500_000_000:
        return tx.nLockTime < tip + 1
    return tx.nLockTime < median_time()


def _inputs(node, tx: CTransaction, rivals) -> tuple[list, Refusal | None]:
    coins = []
    for i, txin in enumerate(tx.vin):
        prev, n = b2lx(txin.prevout.hash), txin.prevout.n
        coin = node.unspent(prev, n)
        if coin is None:
            parent = node.tx(prev)
            if parent is None or n >= len(parent.outputs):
                return coins, Refusal(CONFLICT, f"missing-inputs: input {i} spends {prev}:{n}, "
                                      "which the node does not know", True)
            return coins, Refusal(CONFLICT, f"bad-txns-inputs-spent: input {i} spends "
                                  f"{prev}:{n}, already spent by another transaction", True)
        held = next((r for r in rivals if node.in_mempool(r)), None)
        if held is not None:
            return coins, Refusal(CONFLICT, f"bad-txns-inputs-spent: input {i} spends "
                                  f"{prev}:{n}, which {held} in the node's mempool spends too",
                                  True)
        if coin.coinbase and coin.confirmations < COINBASE_MATURITY:
            return coins, Refusal(NON_FINAL, f"bad-txns-premature-spend-of-coinbase: input {i} "
                                  f"spends a coinbase {coin.confirmations} blocks deep "
                                  f"({COINBASE_MATURITY} needed)", True)
        coins.append(coin)
    return coins, None


def _spent_in_mempool(node, tx: CTransaction) -> Refusal | None:
    # gettxout may not see mempool spends (bcoin 1.0.2 does not): look for a spender among the
    # first MAX_MEMPOOL_SCAN mempool transactions.
    outpoints = {(b2lx(i.prevout.hash), i.prevout.n) for i in tx.vin}
    spender = node.mempool_spender(outpoints, MAX_MEMPOOL_SCAN)
    if spender is None:
        return None
    return Refusal(CONFLICT, f"bad-txns-inputs-spent: {spender} in the node's mempool spends "
                   "the same input", True)


def diagnose(node, raw: bytes, *, waited: float | None = None,
             rivals: tuple[str, ...] = ()) -> Refusal | None:
    """What the node's state says about a transaction it has not admitted: a conflict (with
    one of `rivals`, other transactions of ours spending the same seal, held by the node), a
    premature spend, a non-final locktime, inactive segwit; with `waited` (seconds the node has
    had), also a spender in its mempool or a fee under its floor, else OTHER. None while nothing
    explains it yet."""
    tx = CTransaction.deserialize(raw)
    if node.capabilities().segwit_active is False and tx.has_witness():
        return Refusal(NON_STANDARD, "no-witness-yet: segwit is not active on this node", True)
    coins, found = _inputs(node, tx, rivals)
    if found is not None:
        return found
    tip = node.height()
    if not _final(tx, tip, node.median_time):
        return Refusal(NON_FINAL, f"non-final: locktime {tx.nLockTime} (final from block "
                       f"{tx.nLockTime + 1} on if a height), the next block is {tip + 1}", True)
    if waited is None:
        return None
    found = _spent_in_mempool(node, tx)
    if found is not None:
        return found
    fee = sum(c.value for c in coins) - sum(o.nValue for o in tx.vout)
    vsize = vsize_of(tx)
    floor = node.relay_fees().floor
    if fee < fee_for(floor, vsize):
        return Refusal(FEE_TOO_LOW, f"fee {fee} sat for {vsize} vB is below the node's minimum "
                       f"of {floor} sat/kvB", True)
    return Refusal(OTHER, f"not admitted within {waited:g} s, and nothing in the node's state "
                   "explains it", True)
