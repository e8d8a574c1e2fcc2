"""The background anchorer: the Birth Record, then the log's checkpoints, chained as a
single-use seal, one transaction per anchor window.

Input is a stream of (sequence, tree_size, root) records, nothing of the log's internals;
`queue_from(log_store)` is the one path from the log: it queues the newest checkpoint of each
anchor window (the checkpoints in between are linked to it by consistency proofs in receipts)
and never two checkpoints of one tree size. Each call to `step()` does one round against the
node:

0. readiness, once: the node is on this D-TA's network, has a transaction index and active
   segwit (dta.anchor.capabilities), or step() raises NodeNotReady saying what to fix;
1. refresh: follow every accepted anchor to k confirmations; notice reorgs and put the anchor
   back in flight; if a different candidate confirms than the one later anchors were built on,
   later anchors are rebuilt in order; a pending step whose signed candidate the node holds
   after all is adopted;
2. bump: an anchor still unconfirmed `bump_after` blocks after the node accepted it is
   replaced (BIP 125), paying for its unconfirmed ancestors too; a node seen refusing our
   replacements is waited on instead (one block at a time);
3. broadcast: pending roots are signed in order (stored before they are sent), each spending
   the previous seal, and become `unconfirmed` only when the node accepts them.

A refusal is stored on its step with the node's reason and handled by its class
(dta.anchor.refusal): fee too low -> re-signed at the node's floor; conflict, non-final,
non-standard, other -> the same bytes again after the next block. With no node, an unreachable
node or a malformed answer, nothing is lost: the round stops, and roots stay pending.
"""

from __future__ import annotations

import json
import logging
import time

from dta.anchor import fees as feerules
from dta.anchor.address import p2wpkh_script
from dta.anchor.capabilities import NodeNotReady
from dta.anchor.funding import scan
from dta.anchor.refusal import CONFLICT, FEE_TOO_LOW, NON_FINAL, NON_STANDARD, OTHER, TxRefused
from dta.anchor.replies import COINBASE_MATURITY, MalformedReply
from dta.anchor.rpc import Node
from dta.anchor.store import CONFIRMED, FINAL, PENDING, UNCONFIRMED, AnchorRow, AnchorStore
from dta.anchor.tx import SEAL_VOUT, AnchorTx, Outpoint, build_anchor
from dta.errors import ChainError, NodeUnreachable, RpcError
from dtacore import anchor, bitcoin

log = logging.getLogger("dta.anchor")

__all__ = ["Anchorer", "COINBASE_MATURITY", "MAX_UNCONFIRMED", "NodeNotReady", "STATUSES"]

# Stay well under Core's default limit of 25 unconfirmed ancestors per transaction.
MAX_UNCONFIRMED = 10
# What step() reports about the node for the round (result["node"]).
STATUS_OK = "ok"
STATUS_NO_NODE = "no node configured"
STATUS_UNREACHABLE = "unreachable"
STATUS_REFUSED = "refused"          # the node answered, and refused a transaction this round
STATUS_MALFORMED = "malformed"      # an answer was not in the documented shape
STATUS_RPC_ERROR = "rpc error"      # an RPC failed with an error the round did not expect
STATUSES = (STATUS_OK, STATUS_REFUSED, STATUS_UNREACHABLE, STATUS_MALFORMED, STATUS_RPC_ERROR,
            STATUS_NO_NODE)
# Refusals after which the same bytes go to the node again only once the tip has moved.
WAIT_FOR_BLOCK = (CONFLICT, NON_FINAL, NON_STANDARD, OTHER)
REACTIONS = {
    CONFLICT: "an input is spent or unknown to the node; trying again after the next block",
    FEE_TOO_LOW: "re-signing at the node's current floor",
    NON_FINAL: "trying again after the next block",
    NON_STANDARD: "this node's policy refuses it; trying again after the next block",
    OTHER: "trying again after the next block",
}
# Store meta key: the node products (getnetworkinfo subversion) seen refusing a replacement of a
# transaction they hold, i.e. without BIP 125 replacement. Kept across runs (`--once`).
META_NO_REPLACEMENT = "no_replacement"


def _candidate(atx: AnchorTx, extra: list[Outpoint] = ()) -> dict:
    return {"txid": atx.txid, "raw": atx.hex, "fee": atx.fee, "vsize": atx.vsize,
            "fee_rate": atx.fee_rate, "seal_value": atx.seal.value,
            "extra": [o.as_dict() for o in extra]}


def _extra(cand: dict) -> list[Outpoint]:
    return [Outpoint(**o) for o in cand.get("extra", [])]


def _rivals(row: AnchorRow, cand: dict) -> tuple[str, ...]:
    # The step's other candidates: they spend the same seal.
    return tuple(c["txid"] for c in row.candidates if c["txid"] != cand["txid"])


def _spends(cand: dict) -> tuple[str, int]:
    # The seal a candidate spends (its first input), read from its own bytes.
    first = bitcoin.parse_tx(bytes.fromhex(cand["raw"])).inputs[0]
    return bitcoin.reverse(first.prev_txid).hex(), first.vout


def _undecided(row: AnchorRow) -> bool:
    # More than one candidate of the step may be out there: which one confirms decides the
    # seal the next step spends. A candidate the node refused in its own words (it says why
    # when it does not relay) never left; one refused by inference may have been relayed.
    return len([c for c in row.candidates if not c.get("withheld")]) > 1


class Anchorer:
    def __init__(self, store: AnchorStore, signer, dta_id: bytes, node: Node | None, *,
                 k: int = 1, fee_floor: int = 1000, fee_max: int = 100_000, fee_target: int = 6,
                 bump_after: int = 3, max_unconfirmed: int = MAX_UNCONFIRMED,
                 network: str | None = None, anchor_window: float = 0.0, clock=time.time):
        if k < 1 or fee_floor < 1 or fee_max < fee_floor or bump_after < 1 or anchor_window < 0:
            raise ChainError("anchorer: need k >= 1, bump_after >= 1, anchor_window >= 0, "
                             "1 <= fee_floor <= fee_max")
        self.store, self.signer, self.dta_id, self.node = store, signer, bytes(dta_id), node
        self.k, self.fee_floor, self.fee_max, self.fee_target = k, fee_floor, fee_max, fee_target
        self.bump_after, self.max_unconfirmed = bump_after, max_unconfirmed
        self.anchor_window, self.clock = anchor_window, clock
        self.script = p2wpkh_script(signer.public_key)
        self.network = network  # when given, the node must be on this chain
        self.replaces: bool | None = None  # the node's BIP 125 replacement, once seen
        self._ready = False
        self._noted: set[tuple] = set()
        self.events: list[str] = []
        self.refusals: list[dict] = []

    @classmethod
    def open(cls, cfg, signer, facts, node: Node | None) -> "Anchorer":
        """The anchorer of the data directory in `cfg`: its seal-chain store, the authority's
        identity key (`signer`) and public facts (dta.authority.identity.PublicFacts), the
        configured fee, confirmation and anchor-window rules."""
        c = cfg.chain
        return cls(AnchorStore(cfg.anchor_db), signer, facts.dta_id, node,
                   k=c.k_for(facts.network), fee_floor=c.fee_floor, fee_max=c.fee_max,
                   fee_target=c.fee_target_blocks, bump_after=c.bump_after,
                   network=facts.network, anchor_window=c.anchor_window_for(facts.network))

    # -- inputs -------------------------------------------------------------------------------

    def queue_from(self, log_store) -> int:
        """Queue the Birth Record, then the log's closed checkpoints: every new one when the
        anchor window is 0, else the newest once `anchor_window` seconds have passed since
        the last one was queued. A checkpoint no larger than the last queued is never queued
        (one tree size, one fee). The one path from the log to the chain; returns how many
        checkpoints were queued."""
        self.submit_birth()
        last = self.store.last_checkpoint()
        fresh, size = [], last.tree_size if last else 0
        for cp in log_store.checkpoints(after_seq=last.sequence if last else None):
            if cp.tree_size > size:
                fresh.append(cp)
                size = cp.tree_size
        if not fresh:
            return 0
        if self.anchor_window > 0:
            if last is not None and self.clock() - last.created < self.anchor_window:
                return 0  # the window is open: its newest checkpoint goes when it closes
            fresh = fresh[-1:]
        for cp in fresh:
            self.submit_checkpoint(cp.seq, cp.tree_size, cp.root)
        return len(fresh)

    @property
    def funding(self) -> Outpoint | None:
        raw = self.store.get_meta("funding")
        return Outpoint(**json.loads(raw)) if raw else None

    def set_funding(self, outpoint: Outpoint) -> None:
        if self.store.get(0) and self.store.get(0).state != PENDING:
            raise ChainError("the Birth Record is already anchored; its funding cannot change")
        self.store.set_meta("funding", json.dumps(outpoint.as_dict()))

    def find_funding(self, from_height: int = 0) -> Outpoint | None:
        """Watch blocks for an unspent, mature output paying the identity key's P2WPKH script
        that is not one of our own anchors' change. Recorded as the Birth Record's funding, or
        as a top-up once the Birth Record is on its way."""
        node = self._need_node()
        own = {c["txid"] for r in self.store.all() for c in r.candidates}
        known = json.loads(self.store.get_meta("topups") or "[]")
        if self.funding:
            known.append(self.funding.as_dict())
        best = scan(node, self.script, from_height=from_height, skip_txids=own,
                    skip_outpoints={(o["txid"], o["vout"]) for o in known})
        if best:
            birth = self.store.get(0)
            if birth is None or birth.state == PENDING:
                self.set_funding(best)
            else:
                self.add_funds(best)
        return best

    def add_funds(self, outpoint: Outpoint) -> None:
        """Top the seal up: the next anchor signed also spends `outpoint` (an output paying the
        identity key), so its change carries the new funds forward."""
        topups = json.loads(self.store.get_meta("topups") or "[]")
        topups.append(outpoint.as_dict())
        self.store.set_meta("topups", json.dumps(topups))

    def submit_birth(self) -> AnchorRow:
        row = self.store.get(0)
        if row is None:
            row = self.store.add(anchor.KIND_BIRTH, anchor.encode_birth(self.dta_id),
                                 created=self.clock())
        return row

    def submit_checkpoint(self, sequence: int, tree_size: int, root: bytes) -> AnchorRow:
        """Queue one checkpoint; idempotent for the same record, refuses a second root. A
        checkpoint at the tree size of the last one queued is that one (returned, not queued:
        the log has not grown)."""
        self.submit_birth()
        existing = self.store.by_sequence(sequence)
        if existing:
            if existing.root != bytes(root) or existing.tree_size != tree_size:
                raise ChainError(f"checkpoint {sequence} is already anchored with another root")
            return existing
        last = self.store.last_checkpoint()
        if last and sequence <= last.sequence:
            raise ChainError(f"checkpoint {sequence} is older than the last one queued "
                             f"({last.sequence})")
        if last and tree_size <= last.tree_size:
            if tree_size == last.tree_size and bytes(root) == last.root:
                return last
            raise ChainError(f"checkpoint {sequence} has tree size {tree_size}, not above the "
                             f"last one queued ({last.tree_size} at checkpoint {last.sequence})")
        payload = anchor.encode_checkpoint(self.dta_id, sequence, tree_size, bytes(root))
        return self.store.add(anchor.KIND_CHECKPOINT, payload, sequence, tree_size, bytes(root),
                              created=self.clock())

    # -- one round ----------------------------------------------------------------------------

    def step(self) -> dict:
        """One round. Raises NodeNotReady when the node cannot anchor for this D-TA; otherwise
        returns {"node": status, "events", "refusals", "pending", "anchors"}, status one of
        ok, refused, unreachable, malformed, rpc error, no node configured."""
        self.events, self.refusals = [], []
        status = STATUS_NO_NODE if self.node is None else self._round()
        if status == STATUS_OK and self.refusals:
            status = STATUS_REFUSED
        rows = self.store.all()
        return {"node": status, "events": list(self.events), "refusals": list(self.refusals),
                "pending": sum(r.state == PENDING for r in rows),
                "anchors": [r.as_dict() for r in rows]}

    def _round(self) -> str:
        try:
            self._check_ready()
            tip = self.node.height()
            self._refresh(tip)
            self._bump(tip)
            self._broadcast(tip)
        except NodeUnreachable as exc:
            self._event(f"node unreachable, roots stay pending: {exc}")
            return STATUS_UNREACHABLE
        except MalformedReply as exc:
            self._event(f"the node's answer is malformed, the round stopped there: {exc}")
            return STATUS_MALFORMED
        except RpcError as exc:
            self._event(f"the node failed a request, the round stopped there: {exc}")
            return STATUS_RPC_ERROR
        return STATUS_OK

    def _check_ready(self) -> None:
        if self._ready:
            return
        caps = self.node.check_ready(self.network)
        if caps.product in json.loads(self.store.get_meta(META_NO_REPLACEMENT) or "[]"):
            self.replaces = False
        self._ready = caps.settled

    def _event(self, msg: str) -> None:
        log.info(msg)
        self.events.append(msg)

    def _note(self, key: tuple, msg: str) -> None:
        """An event said once per key (a step and a tip): waiting is news once a block."""
        if key not in self._noted:
            self._noted.add(key)
            self._event(msg)

    def _need_node(self) -> Node:
        if self.node is None:
            raise ChainError("no Bitcoin node configured (chain.rpc_url / DTA_BITCOIN_RPC)")
        return self.node

    def _fee_rate(self, fees: feerules.RelayFees) -> int:
        return feerules.anchor_rate(self.node.fee_rate(self.fee_target), fees,
                                    fee_floor=self.fee_floor, fee_max=self.fee_max)

    def _seal_before(self, row: AnchorRow) -> Outpoint | None:
        if row.step == 0:
            return self.funding
        prev = self.store.get(row.step - 1)
        cand = prev.current if prev else None
        if cand is None:
            return None
        return Outpoint(cand["txid"], SEAL_VOUT, cand["seal_value"])

    def _refused(self, row: AnchorRow, cand: dict, exc: TxRefused, tip: int, *,
                 first_send: bool = True) -> None:
        if first_send and not exc.refusal.inferred:
            cand["withheld"] = True  # the node said no and relayed nothing: it never left
        row.refusal = dict(exc.refusal.as_dict(), txid=cand["txid"], height=tip)
        self.store.save(row)
        self.refusals.append(dict(row.refusal, step=row.step))
        self._event(f"step {row.step}: {exc}; {REACTIONS[exc.refusal.kind]}")

    def _waits(self, row: AnchorRow, cand: dict, tip: int) -> bool:
        """The node refused these very bytes at this tip for a reason a block may lift."""
        ref = row.refusal
        return bool(ref and ref["txid"] == cand["txid"] and ref["kind"] in WAIT_FOR_BLOCK
                    and ref["height"] >= tip)

    # -- refresh ------------------------------------------------------------------------------

    def _refresh(self, tip: int) -> None:
        for step in [r.step for r in self.store.all()]:
            row = self.store.get(step)  # re-read: re-anchoring may have reset later steps
            if row.state == PENDING:
                if not self._adopt(row, tip):
                    break
                continue
            if row.state in (CONFIRMED, FINAL):
                if self._still_there(row, tip):
                    continue
                self._event(f"step {row.step}: block {row.block_hash} at height {row.height} "
                            f"left the best chain (reorg); putting {row.txid} back in flight")
                row.state, row.block_hash, row.height, row.confirmations = (UNCONFIRMED, None,
                                                                            None, 0)
                row.accepted_height = tip
                self.store.save(row)
            self._follow(row, tip)

    def _adopt(self, row: AnchorRow, tip: int) -> bool:
        # A pending step's signed candidates: the node may hold one after all (sent just before
        # a crash or an outage, relayed by another node, mined).
        for cand in reversed(row.candidates):
            conf, block = self.node.confirmations(cand["txid"])
            if conf >= 1 and block:
                self._confirmed(row, cand, block, tip)
                return True
            if conf == 0 and self.node.in_mempool(cand["txid"]):
                row.state, row.txid, row.accepted_height, row.refusal = (UNCONFIRMED,
                                                                         cand["txid"], tip, None)
                self.store.save(row)
                self._event(f"step {row.step}: the node holds {cand['txid']}")
                return True
        return False

    def _still_there(self, row: AnchorRow, tip: int) -> bool:
        if row.height > tip:
            return False
        try:
            if self.node.block_hash(row.height) != row.block_hash:
                return False
        except RpcError:
            return False
        conf = tip - row.height + 1
        if conf != row.confirmations:
            row.confirmations = conf
            if row.state == CONFIRMED and conf >= self.k:
                row.state = FINAL
                self._event(f"step {row.step}: {row.txid} final with {conf} confirmations")
            self.store.save(row)
        return True

    def _confirmed(self, row: AnchorRow, cand: dict, block: str, tip: int) -> None:
        if row.txid != cand["txid"]:
            if row.state != PENDING:
                self._event(f"step {row.step}: {cand['txid']} confirmed instead of {row.txid}")
            row.txid = cand["txid"]
            self._reanchor_after(row.step)
        row.block_hash, row.height = block, self.node.block_height(block)
        row.confirmations = tip - row.height + 1
        row.state = FINAL if row.confirmations >= self.k else CONFIRMED
        row.refusal = None
        self.store.save(row)
        self._event(f"step {row.step}: {row.txid} in block {row.height} "
                    f"({row.confirmations} confirmations)")

    def _follow(self, row: AnchorRow, tip: int) -> None:
        for cand in reversed(row.candidates):
            conf, block = self.node.confirmations(cand["txid"])
            if conf >= 1 and block:
                self._confirmed(row, cand, block, tip)
                return
        live = next((c for c in reversed(row.candidates) if self.node.in_mempool(c["txid"])),
                    None)
        if live is not None:
            if live["txid"] != row.txid:
                row.txid = live["txid"]
                self.store.save(row)
            return
        current = row.current
        if self._waits(row, current, tip):
            return
        try:
            self.node.send(current["raw"], rivals=_rivals(row, current))
        except TxRefused as exc:
            self._refused(row, current, exc, tip, first_send=False)
            return
        row.refusal = None
        self.store.save(row)
        self._event(f"step {row.step}: re-broadcast {current['txid']}")

    def _reanchor_after(self, step: int) -> None:
        for later in self.store.all():
            if later.step > step and later.state != PENDING:
                for extra in _extra(later.current or {}):  # its top-ups go to the rebuilt anchor
                    self.add_funds(extra)
                later.state, later.candidates, later.txid = PENDING, [], None
                later.block_hash, later.height, later.confirmations = None, None, 0
                later.accepted_height, later.refusal = None, None
                self.store.save(later)
                self._event(f"step {later.step}: re-anchoring (its input changed)")

    # -- bump ---------------------------------------------------------------------------------

    def _bump(self, tip: int) -> None:
        unconf = [r for r in self.store.all() if r.state == UNCONFIRMED]
        if not unconf:
            return
        last = unconf[-1]
        if last.accepted_height is None or tip - last.accepted_height < self.bump_after:
            return
        old, newest = last.current, last.candidates[-1]
        if self._waits_after_replacement(last, newest, tip):
            return
        if self.replaces is False and self.node.in_mempool(old["txid"]):
            self._note(("no replacement", last.step, tip),
                       f"step {last.step}: unconfirmed after {tip - last.accepted_height} "
                       "blocks; the node does not replace transactions (BIP 125), waiting for "
                       "a block")
            return
        if newest is not old and last.refusal and last.refusal["kind"] == FEE_TOO_LOW:
            old = newest  # the node wanted more than the refused replacement paid
        if old["fee_rate"] >= self.fee_max:
            self._event(f"step {last.step}: stuck at the maximum fee rate, not bumping")
            return
        fees = self.node.relay_fees()
        try:
            plan = feerules.replacement(old, [r.current for r in unconf[:-1]],
                                        self._fee_rate(fees), fees, fee_max=self.fee_max)
            atx = build_anchor(self.signer, self._seal_before(last), last.payload, plan.rate,
                               min_fee=plan.min_fee, extra=_extra(old))
        except ChainError as exc:
            self._event(f"step {last.step}: cannot build a replacement: {exc}")
            return
        cand = _candidate(atx, _extra(old))
        last.candidates.append(cand)
        last.signed_height = tip
        self.store.save(last)  # stored before it leaves
        self._replace(last, old, cand, tip)

    def _waits_after_replacement(self, row: AnchorRow, newest: dict, tip: int) -> bool:
        # A replacement refused at this tip is not tried again before the next block.
        ref = row.refusal
        return bool(ref and ref["txid"] == newest["txid"] and newest["txid"] != row.txid
                    and ref["height"] >= tip)

    def _replace(self, row: AnchorRow, old: dict, cand: dict, tip: int) -> None:
        try:
            self.node.send(cand["raw"], rivals=_rivals(row, cand))
        except TxRefused as exc:
            self._refused(row, cand, exc, tip)
            held = row.current["txid"]  # the candidate the node accepted before
            if exc.refusal.kind == CONFLICT and self.node.in_mempool(held):
                self._no_replacement()
                self._event(f"step {row.step}: the node kept {held} and refused its "
                            "replacement: it does not replace transactions (BIP 125); waiting "
                            "for a block from now on")
            return
        row.txid, row.accepted_height, row.refusal = cand["txid"], tip, None
        self.store.save(row)
        self._event(f"step {row.step}: unconfirmed after {self.bump_after} blocks; replaced "
                    f"{old['txid']} ({old['fee']} sat) by {cand['txid']} ({cand['fee']} sat)")

    def _no_replacement(self) -> None:
        self.replaces = False
        product = self.node.capabilities().product
        seen = json.loads(self.store.get_meta(META_NO_REPLACEMENT) or "[]")
        if product not in seen:
            self.store.set_meta(META_NO_REPLACEMENT, json.dumps(seen + [product]))

    # -- broadcast ----------------------------------------------------------------------------

    def _broadcast(self, tip: int) -> None:
        rows = self.store.all()
        in_flight = sum(r.state == UNCONFIRMED for r in rows)
        for row in rows:
            if row.state != PENDING:
                continue
            prev = self.store.get(row.step - 1) if row.step else None
            if prev and (prev.state == PENDING
                         or (prev.state == UNCONFIRMED and _undecided(prev))):
                break  # strictly in order; never build on a seal whose spender is undecided
            if in_flight >= self.max_unconfirmed:
                break
            cand = self._candidate_for(row, tip)
            if cand is None or not self._send_new(row, cand, tip):
                break
            in_flight += 1

    def _candidate_for(self, row: AnchorRow, tip: int) -> dict | None:
        """The stored candidate to send again, or a new one signed and stored; None when the
        step has to wait (a block, funding, the fee)."""
        seal, previous = self._seal_before(row), row.current
        # A candidate signed on a seal that is no longer this step's (new funding, a replaced
        # previous step) is kept in case it confirms, but never sent again.
        current = previous if previous and seal and _spends(previous) == (seal.txid,
                                                                           seal.vout) else None
        if current:
            if self._waits(row, current, tip):
                self._note(("wait", row.step, tip), f"step {row.step}: waiting for a block "
                           f"before sending {current['txid']} again ({row.refusal['kind']})")
                return None
            ref = row.refusal
            if not (ref and ref["txid"] == current["txid"] and ref["kind"] == FEE_TOO_LOW):
                return current
        if seal is None:
            self._event("waiting for funding of the identity address")
            return None
        return self._sign(row, seal, tip, previous=previous, outbid=current)

    def _sign(self, row: AnchorRow, seal: Outpoint, tip: int, *, previous: dict | None,
              outbid: dict | None) -> dict | None:
        # A new candidate for a pending step, stored before it leaves. It carries the top-ups
        # of the step's previous candidate, else the ones waiting; `outbid`: a candidate the
        # node refused for its fee, which this one pays more than.
        topups = [Outpoint(**o) for o in json.loads(self.store.get_meta("topups") or "[]")]
        extra = _extra(previous) if previous else topups
        fees = self.node.relay_fees()
        try:
            rate = self._fee_rate(fees)
            if outbid:
                if outbid["fee_rate"] >= self.fee_max:
                    raise ChainError(f"refused at fee_max ({self.fee_max} sat/kvB): raise "
                                     "[chain] fee_max")
                rate = min(self.fee_max, max(rate, outbid["fee_rate"] + fees.incremental))
            atx = build_anchor(self.signer, seal, row.payload, rate, extra=extra)
        except ChainError as exc:  # e.g. the seal cannot pay the fee: stays pending
            self._event(f"step {row.step}: cannot anchor: {exc}")
            return None
        cand = _candidate(atx, extra)
        row.candidates.append(cand)
        row.txid, row.signed_height = atx.txid, tip
        with self.store.transaction():  # durable before it leaves; top-ups now belong to it
            self.store.save(row)
            if extra and not previous:
                self.store.set_meta("topups", "[]")
        return cand

    def _send_new(self, row: AnchorRow, cand: dict, tip: int) -> bool:
        try:
            self.node.send(cand["raw"], rivals=_rivals(row, cand))
        except TxRefused as exc:
            self._refused(row, cand, exc, tip)
            return False
        row.state, row.txid, row.accepted_height, row.refusal = (UNCONFIRMED, cand["txid"], tip,
                                                                 None)
        self.store.save(row)
        self._event(f"step {row.step}: sent {cand['txid']} ({cand['vsize']} vB, "
                    f"{cand['fee']} sat)")
        return True

    def run(self, stop, interval: float, feed=None, on_round=None) -> None:
        """Rounds until `stop` (a threading.Event) is set: `feed(self)` queues new checkpoints,
        then `step()`; `on_round(result)` sees each round. For a service thread."""
        while not stop.is_set():
            if feed is not None:
                feed(self)
            result = self.step()
            if on_round is not None:
                on_round(result)
            stop.wait(interval)
