"""The background anchorer: one transaction per checkpoint, chained as a single-use seal.

Input is a stream of (sequence, tree_size, root) records, nothing of the log's internals. Each
call to `step()` does one round against the node:

1. refresh: follow every broadcast anchor to k confirmations; notice reorgs (the block recorded
   at a height changed, or the transaction left the chain) and put the anchor back in flight;
   if a different candidate than the one later anchors were built on confirms, later anchors are
   rebuilt (re-anchored) in order;
2. bump: an anchor still unconfirmed `bump_after` blocks after it was sent is replaced (BIP 125)
   at a higher fee rate, paying for its unconfirmed ancestors too;
3. broadcast: pending roots are signed and sent in order, each spending the previous seal.

With no node, or an unreachable one, nothing is lost: roots stay pending and go out in order
once the node answers again.
"""

from __future__ import annotations

import json
import logging
import math

from dta.anchor.address import p2wpkh_script
from dta.anchor.rpc import Node
from dta.anchor.store import CONFIRMED, FINAL, PENDING, UNCONFIRMED, AnchorRow, AnchorStore
from dta.anchor.tx import SEAL_VOUT, AnchorTx, Outpoint, build_anchor
from dta.errors import ChainError, NodeUnreachable, RpcError
from dtacore import anchor

log = logging.getLogger("dta.anchor")

# Bitcoin Core's default incremental relay fee: a replacement pays at least this much more
# per vbyte.
INCREMENTAL_RATE = 1000
# Stay well under Core's default limit of 25 unconfirmed ancestors per transaction.
MAX_UNCONFIRMED = 10
# Coinbase outputs can be spent only after 100 blocks (consensus).
COINBASE_MATURITY = 100


def _candidate(atx: AnchorTx, extra: list[Outpoint] = ()) -> dict:
    return {"txid": atx.txid, "raw": atx.hex, "fee": atx.fee, "vsize": atx.vsize,
            "fee_rate": atx.fee_rate, "seal_value": atx.seal.value,
            "extra": [o.as_dict() for o in extra]}


def _extra(cand: dict) -> list[Outpoint]:
    return [Outpoint(**o) for o in cand.get("extra", [])]


class Anchorer:
    def __init__(self, store: AnchorStore, signer, dta_id: bytes, node: Node | None, *,
                 k: int = 1, fee_floor: int = 1000, fee_max: int = 100_000, fee_target: int = 6,
                 bump_after: int = 3, max_unconfirmed: int = MAX_UNCONFIRMED,
                 network: str | None = None):
        if k < 1 or fee_floor < 1 or fee_max < fee_floor or bump_after < 1:
            raise ChainError("anchorer: need k >= 1, bump_after >= 1, 1 <= fee_floor <= fee_max")
        self.store, self.signer, self.dta_id, self.node = store, signer, bytes(dta_id), node
        self.k, self.fee_floor, self.fee_max, self.fee_target = k, fee_floor, fee_max, fee_target
        self.bump_after, self.max_unconfirmed = bump_after, max_unconfirmed
        self.script = p2wpkh_script(signer.public_key)
        self.network = network  # when given, the node must be on this chain
        self._network_checked = False
        self.events: list[str] = []

    @classmethod
    def open(cls, cfg, signer, facts, node: Node | None) -> "Anchorer":
        """The anchorer of the data directory in `cfg`: its seal-chain store, the authority's
        identity key (`signer`) and public facts (dta.authority.identity.PublicFacts), the
        configured fee and confirmation rules."""
        c = cfg.chain
        return cls(AnchorStore(cfg.anchor_db), signer, facts.dta_id, node,
                   k=c.k_for(facts.network), fee_floor=c.fee_floor, fee_max=c.fee_max,
                   fee_target=c.fee_target_blocks, bump_after=c.bump_after,
                   network=facts.network)

    # -- inputs -------------------------------------------------------------------------------

    def queue_from(self, log_store) -> int:
        """Queue the Birth Record, then the log's closed checkpoints not queued yet: the one
        path from the log to the chain. Returns how many checkpoints were added."""
        self.submit_birth()
        done = [r.sequence for r in self.store.all() if r.sequence is not None]
        added = 0
        for cp in log_store.checkpoints(after_seq=max(done) if done else None):
            self.submit_checkpoint(cp.seq, cp.tree_size, cp.root)
            added += 1
        return added

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
        node, best = self._need_node(), None
        own = {c["txid"] for r in self.store.all() for c in r.candidates}
        known = json.loads(self.store.get_meta("topups") or "[]")
        if self.funding:
            known.append(self.funding.as_dict())
        known = {(o["txid"], o["vout"]) for o in known}
        tip = node.height()
        for height in range(max(from_height, 0), tip + 1):
            for tx in node.block_txs(node.block_hash(height)):
                if tx["txid"] in own:
                    continue
                for out in tx["vout"]:
                    if bytes.fromhex(out["scriptPubKey"]["hex"]) != self.script:
                        continue
                    if (tx["txid"], out["n"]) in known:
                        continue
                    utxo = node.txout(tx["txid"], out["n"])
                    if not utxo:
                        continue
                    coinbase = "coinbase" in (tx["vin"][0] if tx["vin"] else {})
                    if coinbase and int(utxo.get("confirmations", 0)) < COINBASE_MATURITY:
                        continue
                    value = int(round(out["value"] * 100_000_000))
                    if best is None or value > best.value:
                        best = Outpoint(tx["txid"], out["n"], value)
        if best:
            birth = self.store.get(0)
            if birth is None or birth.state == PENDING:
                self.set_funding(best)
            else:
                self.add_funds(best)
        return best

    def add_funds(self, outpoint: Outpoint) -> None:
        """Top the seal up: the next anchor sent also spends `outpoint` (an output paying the
        identity key), so its change carries the new funds forward."""
        topups = json.loads(self.store.get_meta("topups") or "[]")
        topups.append(outpoint.as_dict())
        self.store.set_meta("topups", json.dumps(topups))

    def submit_birth(self) -> AnchorRow:
        row = self.store.get(0)
        if row is None:
            row = self.store.add(anchor.KIND_BIRTH, anchor.encode_birth(self.dta_id))
        return row

    def submit_checkpoint(self, sequence: int, tree_size: int, root: bytes) -> AnchorRow:
        """Queue one checkpoint; idempotent for the same record, refuses a second root."""
        self.submit_birth()
        existing = self.store.by_sequence(sequence)
        if existing:
            if existing.root != bytes(root) or existing.tree_size != tree_size:
                raise ChainError(f"checkpoint {sequence} is already anchored with another root")
            return existing
        last = [r for r in self.store.all() if r.sequence is not None]
        if last and sequence <= last[-1].sequence:
            raise ChainError(f"checkpoint {sequence} is older than the last one queued "
                             f"({last[-1].sequence})")
        payload = anchor.encode_checkpoint(self.dta_id, sequence, tree_size, bytes(root))
        return self.store.add(anchor.KIND_CHECKPOINT, payload, sequence, tree_size, bytes(root))

    # -- one round ----------------------------------------------------------------------------

    def step(self) -> dict:
        self.events = []
        status = "ok"
        if self.node is None:
            status = "no node configured"
        else:
            try:
                self._check_network()
                tip = self.node.height()
                self._refresh(tip)
                self._bump(tip)
                self._broadcast(tip)
            except NodeUnreachable as exc:
                status = "unreachable"
                self._event(f"node unreachable, roots stay pending: {exc}")
        rows = self.store.all()
        return {"node": status, "events": list(self.events),
                "pending": sum(r.state == PENDING for r in rows),
                "anchors": [r.as_dict() for r in rows]}

    def _check_network(self) -> None:
        if self.network is None or self._network_checked:
            return
        got = self.node.network()
        if got != self.network:
            raise ChainError(f"the node is on {got}, this D-TA anchors on {self.network}; "
                             "refusing to anchor on the wrong chain")
        self.node.require_txindex()
        self._network_checked = True

    def _event(self, msg: str) -> None:
        log.info(msg)
        self.events.append(msg)

    def _need_node(self) -> Node:
        if self.node is None:
            raise ChainError("no Bitcoin node configured (chain.rpc_url / DTA_BITCOIN_RPC)")
        return self.node

    def _fee_rate(self) -> int:
        estimate = self.node.fee_rate(self.fee_target) or self.fee_floor
        return max(self.fee_floor, min(self.fee_max, estimate))

    def _seal_before(self, row: AnchorRow) -> Outpoint | None:
        if row.step == 0:
            return self.funding
        prev = self.store.get(row.step - 1)
        cand = prev.current if prev else None
        if cand is None:
            return None
        return Outpoint(cand["txid"], SEAL_VOUT, cand["seal_value"])

    def _send(self, row: AnchorRow, cand: dict) -> bool:
        try:
            self.node.send(cand["raw"])
            return True
        except RpcError as exc:
            msg = exc.message.lower()
            if "already" in msg or "known" in msg:
                return True
            self._event(f"step {row.step}: node refused {cand['txid']}: {exc.message}")
            return False

    def _refresh(self, tip: int) -> None:
        for step in [r.step for r in self.store.all()]:
            row = self.store.get(step)  # re-read: re-anchoring may have reset later steps
            if row.state == PENDING:
                break
            if row.state in (CONFIRMED, FINAL):
                if self._still_there(row, tip):
                    continue
                self._event(f"step {row.step}: block {row.block_hash} at height {row.height} "
                            f"left the best chain (reorg); putting {row.txid} back in flight")
                row.state, row.block_hash, row.height, row.confirmations = (UNCONFIRMED, None,
                                                                            None, 0)
                row.sent_height = tip
                self.store.save(row)
            self._follow(row, tip)

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

    def _follow(self, row: AnchorRow, tip: int) -> None:
        for cand in reversed(row.candidates):
            conf, block = self.node.confirmations(cand["txid"])
            if conf >= 1 and block:
                if row.txid != cand["txid"]:
                    self._event(f"step {row.step}: {cand['txid']} confirmed instead of {row.txid}")
                    row.txid = cand["txid"]
                    self._reanchor_after(row.step)
                row.block_hash, row.height = block, int(self.node.header(block)["height"])
                row.confirmations = tip - row.height + 1
                row.state = FINAL if row.confirmations >= self.k else CONFIRMED
                self.store.save(row)
                self._event(f"step {row.step}: {row.txid} in block {row.height} "
                            f"({row.confirmations} confirmations)")
                return
        current = row.current
        if not self.node.in_mempool(current["txid"]):
            if self._send(row, current):
                self._event(f"step {row.step}: re-broadcast {current['txid']}")

    def _reanchor_after(self, step: int) -> None:
        for later in self.store.all():
            if later.step > step and later.state != PENDING:
                for extra in _extra(later.current or {}):  # its top-ups go to the rebuilt anchor
                    self.add_funds(extra)
                later.state, later.candidates, later.txid = PENDING, [], None
                later.block_hash, later.height, later.confirmations = None, None, 0
                self.store.save(later)
                self._event(f"step {later.step}: re-anchoring (its input changed)")

    def _bump(self, tip: int) -> None:
        unconf = [r for r in self.store.all() if r.state == UNCONFIRMED]
        if not unconf:
            return
        last = unconf[-1]
        if tip - (last.sent_height or tip) < self.bump_after:
            return
        old = last.current
        if old["fee_rate"] >= self.fee_max:
            self._event(f"step {last.step}: stuck at the maximum fee rate, not bumping")
            return
        rate = min(self.fee_max, max(self._fee_rate(), old["fee_rate"] * 3 // 2 + INCREMENTAL_RATE))
        ancestors = [r.current for r in unconf[:-1]]
        package_vsize = sum(c["vsize"] for c in ancestors) + old["vsize"]
        package_fee = math.ceil(rate * package_vsize / 1000) - sum(c["fee"] for c in ancestors)
        min_fee = old["fee"] + math.ceil(INCREMENTAL_RATE * old["vsize"] / 1000)
        try:
            atx = build_anchor(self.signer, self._seal_before(last), last.payload, rate,
                               min_fee=max(package_fee, min_fee), extra=_extra(old))
        except ChainError as exc:
            self._event(f"step {last.step}: cannot build a replacement: {exc}")
            return
        cand = _candidate(atx, _extra(old))
        last.candidates.append(cand)
        last.txid, last.sent_height = atx.txid, tip
        self.store.save(last)
        self._event(f"step {last.step}: unconfirmed after {self.bump_after} blocks; replaced "
                    f"{old['txid']} ({old['fee']} sat) by {atx.txid} ({atx.fee} sat)")
        self._send(last, cand)

    def _broadcast(self, tip: int) -> None:
        rows = self.store.all()
        in_flight = sum(r.state == UNCONFIRMED for r in rows)
        for row in rows:
            if row.state != PENDING:
                continue
            prev = self.store.get(row.step - 1) if row.step else None
            if prev and (prev.state == PENDING
                         or (prev.state == UNCONFIRMED and len(prev.candidates) > 1)):
                break  # strictly in order; never build on a seal whose spender is undecided
            if in_flight >= self.max_unconfirmed:
                break
            seal = self._seal_before(row)
            if seal is None:
                self._event("waiting for funding of the identity address")
                break
            topups = [Outpoint(**o) for o in json.loads(self.store.get_meta("topups") or "[]")]
            try:
                atx = build_anchor(self.signer, seal, row.payload, self._fee_rate(), extra=topups)
            except ChainError as exc:  # e.g. the seal cannot pay the fee: stays pending
                self._event(f"step {row.step}: cannot anchor: {exc}")
                break
            cand = _candidate(atx, topups)
            row.candidates, row.txid, row.state, row.sent_height = ([cand], atx.txid,
                                                                    UNCONFIRMED, tip)
            with self.store.transaction():  # durable before it leaves; top-ups now belong to it
                self.store.save(row)
                if topups:
                    self.store.set_meta("topups", "[]")
            in_flight += 1
            if self._send(row, cand):
                self._event(f"step {row.step}: sent {atx.txid} ({atx.vsize} vB, {atx.fee} sat)")

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
