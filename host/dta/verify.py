"""Receipt verification with no trust in the D-TA: `dta verify`'s verifier.

Every link is one of dtacore.receipt's checks, the same functions a device runs, in the order a
receipt chains them; the first that breaks raises dtacore.receipt.LinkError naming it. The host
has one trust root the device has not: instead of a trusted checkpoint header, the headers can be
compared with a node's best chain (proof of work still checked against the network's limit).
"""

from __future__ import annotations

from dataclasses import dataclass

from dta import signing
from dta.anchor.rpc import Node
from dta.anchor.tx import SEAL_VOUT
from dta.errors import ChainError
from dta.receipt import BirthReceipt, ChainProof, Receipt
from dtacore import bitcoin, spv
from dtacore import network as networks
from dtacore import receipt as links

LinkError = links.LinkError


@dataclass(frozen=True)
class TrustRoot:
    """What the header chain is checked against: a trusted header at its height (offline), or
    a node's best chain. Neither given: verification cannot decide the Bitcoin links."""

    header: bytes | None = None
    height: int | None = None
    node: Node | None = None

    @property
    def usable(self) -> bool:
        return self.node is not None or (self.header is not None and self.height is not None)


@dataclass(frozen=True)
class Verified:
    entry: object
    leaf_index: int
    tree_size: int
    root: bytes
    sequence: int | None
    txid: str | None
    height: int | None
    confirmations: int | None
    anchored: bool
    # The anchored checkpoint's tree size when the receipt's checkpoint is linked to it by a
    # consistency proof; None when the receipt's own checkpoint is the anchored one.
    anchored_tree_size: int | None = None


@dataclass(frozen=True)
class BirthVerified:
    dta_id: bytes
    identity_pubkey: bytes
    record: object
    txid: str
    height: int
    confirmations: int


def _headers_against_node(node: Node, chain: ChainProof, net) -> None:
    # Each header has valid proof of work for the network and is the node's best-chain header
    # at its height.
    for i, header in enumerate(chain.headers):
        got = bitcoin.reverse(links.within(links.LINK_HEADERS, spv.check_pow, header,
                                           net.pow_limit)).hex()
        try:
            want = node.block_hash(chain.checkpoint_height + 1 + i)
        except ChainError:
            want = None
        if want != got:
            raise LinkError(links.LINK_HEADERS, f"header at height "
                            f"{chain.checkpoint_height + 1 + i} is not in the node's best chain")


def _in_chain(txid: bytes, chain: ChainProof, net, root: TrustRoot, k: int) -> tuple[str, int, int]:
    """transaction in block -> header chain -> confirmations. -> (txid, height, confirmations)"""
    links.check_in_block(txid, chain.txout_proof, chain.header_bytes, chain.block_index)
    height = chain.checkpoint_height + 1 + chain.block_index
    if root.node is not None:
        _headers_against_node(root.node, chain, net)
        conf = root.node.height() - height + 1
        if conf < k:
            raise LinkError(links.LINK_CONFIRMATIONS, f"{conf} confirmations, {k} required")
    elif root.usable:
        links.check_header_chain(root.header, root.height, chain.header_bytes,
                                 chain.checkpoint_height, net)
        conf = links.check_confirmations(len(chain.headers), chain.block_index, k)
    else:
        raise LinkError(links.LINK_HEADERS, "no trusted checkpoint header and no node to "
                        "check against")
    return bitcoin.reverse(txid).hex(), height, conf


def _expect(got: bytes, want: bytes | None, link: str, what: str) -> None:
    if want is not None and got != want:
        raise LinkError(link, f"{what} is not the expected one")


def verify_receipt(rec: Receipt, root: TrustRoot, *, k: int | None = None,
                   expect_dta_id: bytes | None = None, expect_pubkey: bytes | None = None,
                   allow_pending: bool = False) -> Verified:
    """entry -> inclusion proof -> checkpoint signature -> (consistency proof to the anchored
    checkpoint) -> anchor signer -> payload -> transaction in block -> header chain ->
    confirmations."""
    ev = rec.anchor
    if ev is None:
        raise LinkError(links.LINK_PAYLOAD, "receipt carries no dta-anchor/1 evidence "
                        "(try `dta receipt upgrade`)")
    _expect(ev.identity_pubkey, expect_pubkey, links.LINK_CHECKPOINT, "identity key")
    _expect(ev.dta_id, expect_dta_id, links.LINK_PAYLOAD, "D-TA id")
    entry, proof, cp = links.check_entry(rec.entry, rec.proof, rec.checkpoint,
                                         ev.identity_pubkey, verify=signing.verify)
    anchored_cp, via = cp, None
    if rec.consistency is not None:
        anchored_cp = links.check_consistency(cp, rec.consistency.checkpoint,
                                              rec.consistency.proof, ev.identity_pubkey,
                                              verify=signing.verify)
        via = anchored_cp.size
    if ev.chain is None:
        if allow_pending:
            return Verified(entry, proof.index, cp.size, cp.root, ev.sequence, None, None, None,
                            False, via)
        raise LinkError(links.LINK_PAYLOAD, "receipt is 'pending', not anchored "
                        "(try `dta receipt upgrade`)")
    net = networks.by_name(ev.network)
    txid = links.check_checkpoint_anchor(ev.chain.tx, ev.identity_pubkey, ev.dta_id,
                                         ev.sequence, anchored_cp)
    txid_hex, height, conf = _in_chain(txid, ev.chain, net, root, k or net.default_k)
    return Verified(entry, proof.index, cp.size, cp.root, ev.sequence, txid_hex, height, conf,
                    True, via)


def verify_birth(rec: BirthReceipt, root: TrustRoot, *, k: int | None = None,
                 expect_dta_id: bytes | None = None) -> BirthVerified:
    """birth record (if revealed) -> anchor signer -> payload -> transaction in block ->
    header chain -> confirmations."""
    _expect(rec.dta_id, expect_dta_id, links.LINK_PAYLOAD, "D-TA id")
    record = None
    if rec.birth_record is not None:
        record = links.check_birth_record(rec.birth_record, rec.dta_id, rec.identity_pubkey,
                                          rec.network)
    net = networks.by_name(rec.network)
    txid = links.check_birth_anchor(rec.chain.tx, rec.identity_pubkey, rec.dta_id)
    txid_hex, height, conf = _in_chain(txid, rec.chain, net, root, k or net.default_k)
    return BirthVerified(rec.dta_id, rec.identity_pubkey, record, txid_hex, height, conf)


def verify_log_receipt(rec: Receipt, pubkey: bytes, key_name: str | None = None):
    """The log half alone (`dta log verify`): entry, inclusion proof, checkpoint signature by
    `pubkey`. -> (decoded entry, InclusionProof, Checkpoint)"""
    return links.check_entry(rec.entry, rec.proof, rec.checkpoint, pubkey, key_name,
                             signing.verify)


__all__ = ["AnchoredStep", "BirthVerified", "LinkError", "PendingStep", "SealChainVerified",
           "TrustRoot", "Verified", "verify_birth", "verify_log_receipt", "verify_receipt",
           "verify_seal_chain"]


# -- a whole seal chain (`dta verify --from URL --seal-chain`) -----------------------------------

LINK_SEAL = "seal chain"


@dataclass(frozen=True)
class AnchoredStep:
    sequence: int | None  # None for the Birth Record
    tree_size: int | None
    root: str | None  # hex
    txid: str
    height: int
    confirmations: int


@dataclass(frozen=True)
class PendingStep:
    step: int
    state: str  # as the D-TA reports it; its transaction's signer and seal were checked


@dataclass(frozen=True)
class SealChainVerified:
    dta_id: bytes
    birth: AnchoredStep
    tip_height: int
    anchors: tuple[AnchoredStep, ...]  # the checkpoints in blocks, in order
    pending: tuple[PendingStep, ...]  # steps not in a block yet


class _Anchored:
    # What dtacore.receipt.check_checkpoint_anchor reads of a checkpoint: its size and root.
    def __init__(self, size: int, root: bytes):
        self.size, self.root = size, root


def _seal_input(raw: bytes) -> tuple[bytes, int]:
    first = links.within(LINK_SEAL, bitcoin.parse_tx, raw).inputs[0]
    return bytes(first.prev_txid), first.vout


def _step_txid(step, chain, index: int) -> bytes:
    pub, dta_id = chain.identity_pubkey, chain.dta_id
    if step.kind == "birth":
        if index != 0:
            raise LinkError(LINK_SEAL, f"step {step.step}: a second Birth Record in the chain")
        return links.check_birth_anchor(step.tx, pub, dta_id)
    if index == 0 or step.sequence is None or step.tree_size is None or step.root is None:
        raise LinkError(LINK_SEAL, f"step {step.step}: a checkpoint anchor needs the Birth "
                        "Record before it and its sequence, tree size and root")
    return links.check_checkpoint_anchor(step.tx, pub, dta_id, step.sequence,
                                         _Anchored(step.tree_size, step.root))


def _check_order(steps) -> None:
    last_seq = last_size = None
    for s in steps[1:]:
        if last_seq is not None and (s.sequence <= last_seq or s.tree_size <= last_size):
            raise LinkError(LINK_SEAL, f"step {s.step}: checkpoint {s.sequence} (size "
                            f"{s.tree_size}) does not follow checkpoint {last_seq} (size "
                            f"{last_size})")
        last_seq, last_size = s.sequence, s.tree_size


def _chain_headers(chain, net, root: TrustRoot) -> int:
    """The document's headers from its checkpoint height, checked against the trust root.
    -> the height of the best header a confirmation may count up to"""
    proof = ChainProof(b"", b"", chain.checkpoint_height, chain.headers, 0)
    if root.node is not None:
        _headers_against_node(root.node, proof, net)
        return root.node.height()
    if not root.usable:
        raise LinkError(links.LINK_HEADERS, "no trusted checkpoint header and no node to "
                        "check against")
    links.check_header_chain(root.header, root.height, chain.header_bytes,
                             chain.checkpoint_height, net)
    return chain.checkpoint_height + len(chain.headers)


def verify_seal_chain(chain, root: TrustRoot, *, k: int | None = None,
                      expect_dta_id: bytes | None = None) -> SealChainVerified:
    """Each anchor of a dta.http.seal_chain.SealChain, in order: signed by the identity key
    (anchor signer), committing to its step (payload), spending the previous step's change
    output (seal chain), in a block on the checked header chain (transaction in block, header
    chain); sequences and tree sizes only grow. Steps not in a block yet get the first three."""
    _expect(chain.dta_id, expect_dta_id, links.LINK_PAYLOAD, "D-TA id")
    net = networks.by_name(chain.network)
    k = k or net.default_k
    tip = _chain_headers(chain, net, root)
    steps = chain.steps
    in_block = [s for s in steps if s.height is not None and s.txout_proof is not None]
    if not in_block or in_block[0].kind != "birth" or in_block != list(steps[:len(in_block)]):
        raise LinkError(LINK_SEAL, "the chain must start with the Birth Record in a block, "
                        "and steps in blocks must come before those that are not")
    _check_order([s for s in steps if s.tx is not None])
    anchors, pending, prev = [], [], None
    for i, s in enumerate(steps):
        if s.tx is None:
            pending.append(PendingStep(s.step, s.state))
            continue
        txid = _step_txid(s, chain, i)
        if prev is not None and _seal_input(s.tx) != (prev, SEAL_VOUT):
            raise LinkError(LINK_SEAL, f"step {s.step} does not spend the change of step "
                            f"{s.step - 1}: a second history, or a gap")
        prev = txid
        if s not in in_block:
            pending.append(PendingStep(s.step, s.state))
            continue
        index = s.height - chain.checkpoint_height - 1
        links.check_in_block(txid, s.txout_proof, chain.header_bytes, index)
        conf = tip - s.height + 1
        anchors.append(AnchoredStep(s.sequence, s.tree_size, s.root.hex() if s.root else None,
                                    bitcoin.reverse(txid).hex(), s.height, conf))
    birth = anchors[0]
    if birth.confirmations < k:
        raise LinkError(links.LINK_CONFIRMATIONS, f"the Birth Record has {birth.confirmations} "
                        f"confirmations, {k} required")
    return SealChainVerified(chain.dta_id, birth, tip, tuple(anchors[1:]), tuple(pending))
