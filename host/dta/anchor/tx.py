"""Anchoring transactions: one P2WPKH input (the seal), an OP_RETURN, change to the identity key.

    vin[0]   the previous seal: the funding output for the Birth Record, else the previous
             anchor's change; nSequence 0xfffffffd (BIP 125 replaceable)
    vout[0]  OP_RETURN <payload>  (value 0, payload <= 80 bytes, see dtacore.anchor)
    vout[1]  P2WPKH(identity key) change: the next seal

Built and signed with python-bitcoinlib's data structures and sighash (BIP 143); the ECDSA
signature comes from the identity key's dta.signing.Signer (coincurve, low-S). No global
network parameters are used: scripts are raw bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bitcoin.core import (
    CMutableTransaction,
    CMutableTxIn,
    CMutableTxOut,
    COutPoint,
    CTransaction,
    CTxInWitness,
    CTxWitness,
    b2lx,
    lx,
)
from bitcoin.core.script import (
    OP_CHECKSIG,
    OP_DUP,
    OP_EQUALVERIFY,
    OP_HASH160,
    SIGHASH_ALL,
    SIGVERSION_WITNESS_V0,
    CScript,
    CScriptWitness,
    SignatureHash,
)

from dta.anchor.address import hash160, p2wpkh_script
from dta.errors import ChainError
from dtacore import anchor
from dtacore.errors import ProtocolError

SEQUENCE_RBF = 0xFFFFFFFD
SEAL_VOUT = 1
# Outputs below this are dust for P2WPKH at Core's default dust relay fee (3 sat/vB): 294 sats.
DUST_LIMIT = 294
# DER signature of at most 72 bytes + sighash byte: used to size the fee before signing.
_DUMMY_SIG = b"\x30" + b"\x00" * 71 + b"\x01"


class PayloadTooLarge(ChainError):
    """An OP_RETURN payload over the 80-byte standardness limit: refused before broadcast."""


@dataclass(frozen=True)
class Outpoint:
    txid: str    # display (big-endian) hex
    vout: int
    value: int   # satoshis

    def as_dict(self) -> dict:
        return {"txid": self.txid, "vout": self.vout, "value": self.value}


@dataclass(frozen=True)
class AnchorTx:
    raw: bytes
    txid: str
    vsize: int
    fee: int
    fee_rate: int      # sat per 1000 vbytes actually paid
    payload: bytes
    spent: Outpoint
    seal: Outpoint     # the change output the next anchor spends

    @property
    def hex(self) -> str:
        return self.raw.hex()


def vsize_of(tx: CTransaction) -> int:
    stripped = len(tx.serialize(params={"include_witness": False}))
    full = len(tx.serialize())
    return math.ceil((stripped * 3 + full) / 4)


def _unsigned(inputs: list[Outpoint], script: bytes, op_return: bytes,
              change: int, locktime: int) -> CMutableTransaction:
    txins = [CMutableTxIn(COutPoint(lx(o.txid), o.vout), nSequence=SEQUENCE_RBF) for o in inputs]
    outs = [CMutableTxOut(0, CScript(op_return)), CMutableTxOut(change, CScript(script))]
    return CMutableTransaction(txins, outs, nLockTime=locktime, nVersion=2)


def _witness(tx: CMutableTransaction, sigs: list[bytes], pubkey: bytes) -> None:
    tx.wit = CTxWitness([CTxInWitness(CScriptWitness([sig, pubkey])) for sig in sigs])


def build_anchor(signer, prev: Outpoint, payload: bytes, fee_rate: int, *, min_fee: int = 0,
                 extra: tuple[Outpoint, ...] | list[Outpoint] = (), locktime: int = 0) -> AnchorTx:
    """Spend `prev` (paying to the signer's P2WPKH) into OP_RETURN(payload) + change.

    fee_rate is in sat per 1000 vbytes; min_fee lets an RBF replacement pay at least what BIP 125
    demands. `extra` are further outputs of the same key that top the seal up; the seal is
    always vin[0]. `locktime` is nLockTime (anchors use 0). Raises PayloadTooLarge before
    anything is signed or sent."""
    try:
        op_return = anchor.op_return_script(payload)
    except ProtocolError as exc:
        raise PayloadTooLarge(str(exc)) from None
    pub = signer.public_key
    script = p2wpkh_script(pub)
    inputs = [prev, *extra]
    total = sum(o.value for o in inputs)
    tx = _unsigned(inputs, script, op_return, total, locktime)
    _witness(tx, [_DUMMY_SIG] * len(inputs), pub)
    vsize = vsize_of(tx)
    fee = max(math.ceil(fee_rate * vsize / 1000), min_fee)
    change = total - fee
    if change < DUST_LIMIT:
        raise ChainError(f"seal output {prev.txid}:{prev.vout} holds {prev.value} sat, too little "
                         f"for a {fee} sat fee; fund the identity address again")
    tx = _unsigned(inputs, script, op_return, change, locktime)
    code = CScript([OP_DUP, OP_HASH160, hash160(pub), OP_EQUALVERIFY, OP_CHECKSIG])
    sigs = []
    for i, o in enumerate(inputs):
        sighash = SignatureHash(code, tx, i, SIGHASH_ALL, amount=o.value,
                                sigversion=SIGVERSION_WITNESS_V0)
        sigs.append(signer.sign_der(sighash) + bytes([SIGHASH_ALL]))
    _witness(tx, sigs, pub)
    final = CTransaction.from_tx(tx)
    txid = b2lx(final.GetTxid())
    real_vsize = vsize_of(final)
    return AnchorTx(raw=final.serialize(), txid=txid, vsize=real_vsize, fee=fee,
                    fee_rate=fee * 1000 // real_vsize, payload=bytes(payload), spent=prev,
                    seal=Outpoint(txid, SEAL_VOUT, change))
