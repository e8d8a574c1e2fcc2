"""Share issuance, write-ahead: the checks, the derivation, the ShareIssued entry durably in the
log, a checkpoint covering it, the signed statement, and only then the messages that carry the
share (to be sealed into the device's session by the caller).

For a request (device key id, its authenticated key, epoch), in this order:

1. the device must be enrolled in the registry with this key; a revoked or unknown one is
   refused (`not enrolled`: dtacore.entries has no `revoked` reason);
2. the (subject, epoch) already has its ShareIssued entry (the index finds it): the same share,
   at the same log index, is sent again with a fresh signature on the same statement. A retry
   or a QoS 1 redelivery never makes a second entry;
3. more than `shares_per_window` new entries in the rate window: refused (`rate limited`);
4. the policy hook refuses (`policy`); its verdict is logged either way;
5. derive, append ShareIssued (Log.append returns once it is durable), index it, sign a
   checkpoint of the log as committed now (which holds the entry; concurrent issuers share
   one) for the receipt, sign the statement, and send: MSG_SHARE, the pending receipt
   (MSG_RECEIPT parts), MSG_VOUCHER, MSG_TIME. The checkpoint is signed, not stored: a
   stored one costs a second fsync per issuance, and nothing needs it stored. The tree up to
   its size is durable, so no other tree of that size can ever be signed; the log's tick stores
   a checkpoint every window, and the anchored receipt links the device's checkpoint to the
   anchored one by a consistency proof.

A refusal appends a ShareRefused entry with the reason, at most once per (subject, epoch,
reason) and at most `refusals_per_window` per device per window (past that it is answered and
counted, not logged: a device must not be able to grow the log by asking), then sends
MSG_SHARE_REFUSED and MSG_TIME. A SIGKILL anywhere leaves at worst an entry whose share never
left (the next request sends it), never a share without its entry.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable

from dta.errors import StoreError
from dta.gateway.registry import ENROLLED, Registry
from dta.issuance.index import IssuanceIndex, ShareRow
from dta.issuance.policy import PolicyRequest
from dta.issuance.receipts import to_bytes as receipt_bytes
from dta.issuance.settings import IssuanceSettings
from dtacore import backend, channel, entries, merkle, note, shares, voucher
from dtacore import receipt_bytes as rb

log = logging.getLogger("dta.issuance")

# Requests of one device are serialised (check, append, index); devices hash onto this many
# locks, so different devices proceed in parallel and share the log's group commit.
LOCK_STRIPES = 64

REASON_NAMES = {entries.REFUSED_UNAUTHENTICATED: "unauthenticated",
                entries.REFUSED_NOT_ENROLLED: "not enrolled",
                entries.REFUSED_RATE_LIMITED: "rate limited",
                entries.REFUSED_POLICY: "policy"}


@dataclass(frozen=True)
class Outcome:
    issued: bool
    messages: list[bytes]    # application messages, in sending order
    epoch: int
    log_index: int | None    # the ShareIssued / ShareRefused entry (None: refused unlogged)
    reason: int | None = None
    detail: str = ""
    new_entry: bool = False  # False: answered from the index (a retry), or not logged


class ShareIssuer:
    def __init__(self, *, dta_id: bytes, master_secret: bytes, signer, log, registry: Registry,
                 index: IssuanceIndex, settings: IssuanceSettings,
                 clock: Callable[[], float] = time.time,
                 emit: Callable[..., None] | None = None):
        self.dta_id = bytes(dta_id)
        self._master = bytes(master_secret)
        self.signer = signer
        self.log = log
        self.registry = registry
        self.index = index
        self.settings = settings
        self.clock = clock
        self.emit = emit or (lambda kind, **fields: None)
        self._locks = [threading.Lock() for _ in range(LOCK_STRIPES)]
        self._cp_lock = threading.Lock()
        self._head: tuple[int, str] | None = None  # (size, signed note) last made
        self.unlogged_refusals = 0

    def request(self, kid: bytes, device_key: bytes, epoch: int) -> Outcome:
        with self._locks[int.from_bytes(kid[:4], "big") % LOCK_STRIPES]:
            now = self.clock()
            dev = self.registry.get(kid.hex())
            if dev is None or dev.pubkey != bytes(device_key) or dev.state != ENROLLED:
                why = "unknown" if dev is None else dev.state
                return self._refuse(kid, epoch, entries.REFUSED_NOT_ENROLLED,
                                    f"the device is {why}, not enrolled", now)
            row = self.index.share(kid, epoch)
            if row is not None:
                return self._deliver(kid, device_key, row, now, new=False)
            since = int((now - self.settings.rate_window_seconds) * 1000)
            if self.index.issued_since(kid, since) >= self.settings.shares_per_window:
                return self._refuse(kid, epoch, entries.REFUSED_RATE_LIMITED,
                                    f"more than {self.settings.shares_per_window} new shares in "
                                    f"{self.settings.rate_window_seconds} s", now)
            verdict = self._policy(kid, device_key, epoch, dev.board)
            if verdict is not None and not verdict.allow:
                return self._refuse(kid, epoch, entries.REFUSED_POLICY, verdict.reason, now)
            return self._issue(kid, device_key, epoch, now)

    def _policy(self, kid: bytes, device_key: bytes, epoch: int, board: str):
        hook = self.settings.policy
        if hook is None:
            return None
        verdict = hook.check(PolicyRequest(self.dta_id, kid, epoch, bytes(device_key), board))
        log.info("policy hook %s %s the share of %s for epoch %d in %.3f s%s", verdict.hook,
                 "allows" if verdict.allow else "refuses", kid.hex(), epoch, verdict.seconds,
                 f": {verdict.reason}" if verdict.reason else "",
                 extra={"fields": {"kind": "policy", "key_id": kid.hex(), "epoch": epoch,
                                   "allow": verdict.allow, "reason": verdict.reason}})
        self.emit("policy-verdict", key_id=kid.hex(), epoch=epoch, allow=verdict.allow,
                  reason=verdict.reason)
        return verdict

    def _issue(self, kid: bytes, device_key: bytes, epoch: int, now: float) -> Outcome:
        share = shares.derive(self._master, kid, epoch)
        public = backend.pubkey(share)
        time_ms = int(now * 1000)
        entry = entries.ShareIssued(kid, epoch, public, time_ms).encode()
        index = self.log.append(entry)
        self.emit("share-logged", key_id=kid.hex(), epoch=epoch, log_index=index)
        row = ShareRow(kid, epoch, index, public, time_ms)
        self.index.add_share(row)
        return self._deliver(kid, device_key, row, now, new=True, share=share, entry=entry)

    def _deliver(self, kid: bytes, device_key: bytes, row: ShareRow, now: float, *, new: bool,
                 share: bytes | None = None, entry: bytes | None = None) -> Outcome:
        if share is None:
            share = shares.derive(self._master, kid, row.epoch)
            if backend.pubkey(share) != row.public_share:
                raise StoreError(f"log entry {row.log_index} holds a public share this D-TA's "
                                 "master secret does not give: the log is another D-TA's")
        receipt = self.device_receipt(row.log_index, entry)
        ps = shares.sign_statement(self.signer, self.dta_id, kid, row.epoch, row.log_index,
                                   row.public_share)
        expiry = int(now) + self.settings.voucher_lifetime
        msgs = ([channel.share(share, shares.encode_statement(ps))]
                + channel.receipt_parts(row.log_index, receipt)
                + [channel.voucher_message(voucher.issue(self.signer, self.dta_id, device_key,
                                                         expiry)),
                   channel.time_message(int(now))])
        return Outcome(True, msgs, row.epoch, row.log_index, new_entry=new)

    def device_receipt(self, index: int, entry: bytes | None = None) -> bytes:
        """The entry's binary receipt against a signed checkpoint of the log as committed now
        (it holds the entry: Log.append returned), made in memory: the tree's roots and proofs
        need no lock and no write, so issuance costs one fsync, the append's. Concurrent
        issuers share one signed checkpoint while it covers them. The log's own tick stores a
        checkpoint every window (and anchor_round one before anchoring); an anchored receipt
        links this one to it by a consistency proof (docs/channel.md, D-TA service)."""
        store = self.log.store
        with self._cp_lock:
            head = self._head
            if head is None or head[0] <= index:
                size = store.size
                text = note.sign_checkpoint(store.origin, size, store.root(size),
                                            self.log.key_name, self.signer.public_key,
                                            self.signer.sign_digest)
                self._head = head = (size, text)
        size, text = head
        path = store.inclusion_proof(index=index, size=size)
        proof = merkle.encode_inclusion(index=index, size=size, path=path)
        data = store.entry(index) if entry is None else entry
        return rb.encode(rb.Receipt(data, proof, text, None))

    def pending_receipt(self, index: int) -> bytes:
        """The entry's binary receipt against the first *stored* checkpoint covering it,
        closing one now if none does yet (concurrent issuers share it): for callers that need
        the checkpoint's sequence number (dta.http's JSON receipts)."""
        store = self.log.store
        if store.checkpoint_covering(index) is None:
            with self._cp_lock:
                if store.checkpoint_covering(index) is None:
                    self.log.checkpoint()
        return receipt_bytes(store.receipt(index))

    def _refuse(self, kid: bytes, epoch: int, reason: int, detail: str, now: float) -> Outcome:
        index = self.index.refusal(kid, epoch, reason)
        new = False
        if index is None:
            since = int((now - self.settings.rate_window_seconds) * 1000)
            if self.index.refused_since(kid, since) < self.settings.refusals_per_window:
                time_ms = int(now * 1000)
                index = self.log.append(entries.ShareRefused(kid, epoch, reason, time_ms))
                self.index.add_refusal(kid, epoch, reason, index, time_ms)
                new = True
            else:
                self.unlogged_refusals += 1
        log.info("refused a share to %s for epoch %d: %s (%s)%s", kid.hex(), epoch,
                 REASON_NAMES[reason], detail,
                 "" if index is not None else " [not logged: over the refusal budget]",
                 extra={"fields": {"kind": "share-refused", "key_id": kid.hex(),
                                   "epoch": epoch, "reason": REASON_NAMES[reason]}})
        msgs = [channel.share_refused(epoch, reason), channel.time_message(int(now))]
        return Outcome(False, msgs, epoch, index, reason, detail, new)
