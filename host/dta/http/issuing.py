"""Shares for people and apps, on the D-TA's issuance core (dta.issuance.issuer.ShareIssuer):
the same index, log, rate window, refusal budget, policy hook and receipts as for devices.

For a verified subject (dta.oidc.Subject: ``issuer sub`` or a client id) and an epoch, in the
order the core applies to devices:

1. the (subject, epoch) already has its ShareIssued entry (the issuance index finds it): the
   same share at the same log index, a fresh signature on the same statement; a retry never
   makes a second entry;
2. more than the core's ``shares_per_window`` new entries in its rate window: refused
   (`rate limited`);
3. the policy hook refuses (`policy`); its request carries the subject, the epoch, no device
   key and the subject's kind (``person`` or ``app``) as its board;
4. derive (dtacore.shares.derive), append ShareIssued and return only once it is durable
   (Log.append, write-ahead), index it, take the receipt against the first checkpoint covering
   it (ShareIssuer.pending_receipt: one is closed now if none does yet), sign the statement.

A refusal appends a ShareRefused entry at most once per (subject, epoch, reason) and at most
the core's ``refusals_per_window`` per subject per window; past that it is answered and
counted, not logged. Requests of one subject are serialised; different subjects share the
log's group commit.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass

from dta.anchor import evidence
from dta.errors import StoreError
from dta.issuance.index import ShareRow
from dta.issuance.policy import PolicyRequest
from dta.receipt import Receipt
from dtacore import backend, entries, merkle, shares

log = logging.getLogger("dta.http")

# Subjects hash onto this many locks (as the core's devices do onto its own).
LOCK_STRIPES = 64
# Checkpoints kept in memory: a busy log closes one per group commit, and a share's receipt is
# against the first one after its entry, a moment ago.
RECENT_CHECKPOINTS = 256
REASON_NAMES = {entries.REFUSED_UNAUTHENTICATED: "unauthenticated",
                entries.REFUSED_NOT_ENROLLED: "not enrolled",
                entries.REFUSED_RATE_LIMITED: "rate limited",
                entries.REFUSED_POLICY: "policy"}


@dataclass(frozen=True)
class IssuedShare:
    subject: bytes
    epoch: int
    share: bytes = b""  # the secret share: never logged, never in repr
    statement: shares.PublicShare | None = None
    receipt: Receipt | None = None
    log_index: int = 0
    new_entry: bool = False

    def __repr__(self) -> str:
        return (f"IssuedShare(subject={self.subject!r}, epoch={self.epoch}, "
                f"log_index={self.log_index}, new_entry={self.new_entry})")


@dataclass(frozen=True)
class Refusal:
    reason: int
    detail: str
    log_index: int | None  # the ShareRefused entry; None when over the refusal budget
    new_entry: bool = False


class Refused(Exception):
    def __init__(self, refusal: Refusal):
        super().__init__(f"{REASON_NAMES[refusal.reason]}: {refusal.detail}")
        self.refusal = refusal


class RecentCheckpoints:
    """The log's newest checkpoints, kept in memory: finding the first one that covers a new
    entry, and building the entry's receipt against it, takes no lock the log's appends hold
    across their fsync (LogStore's SQLite reads share the writer's connection and lock; its
    proofs and roots are lock-free). Older entries are looked up in the store."""

    def __init__(self, store, keep: int = RECENT_CHECKPOINTS):
        self.store = store
        self.keep = keep
        self._lock = threading.Lock()
        self._recent: list = []  # CheckpointRecord, by seq

    def covering(self, index: int, *, refresh: bool = False):
        with self._lock:
            recent = self._recent
            if refresh or not recent or recent[-1].tree_size <= index:
                fresh = self.store.checkpoints(after_seq=recent[-1].seq if recent else None)
                recent = self._recent = (recent + fresh)[-self.keep:]
        if not recent or recent[-1].tree_size <= index:
            return None
        if recent[0].tree_size <= index or len(recent) < self.keep:
            return next(cp for cp in recent if cp.tree_size > index)
        return self.store.checkpoint_covering(index)  # older than the ones kept

    def receipt(self, index: int, entry: bytes, cp, anchor) -> Receipt:
        """LogStore.receipt's document, from memory: the entry, its inclusion proof at the
        checkpoint's size, and the checkpoint's note (its root checked against the tree)."""
        if self.store.root(cp.tree_size) != cp.root:
            raise StoreError(f"{self.store.path}: the tree does not match checkpoint {cp.seq}")
        path = self.store.inclusion_proof(index=index, size=cp.tree_size)
        proof = merkle.encode_inclusion(index=index, size=cp.tree_size, path=path)
        return Receipt(bytes(entry), proof, cp.note, anchor)


class SubjectShares:
    """``issue(subject, epoch, kind)`` -> IssuedShare or raises Refused; ``refuse(...)``
    logs a refusal decided elsewhere (an unauthenticated request, the HTTP rate limit)."""

    def __init__(self, core, *, master_secret: bytes, facts):
        self.core = core  # dta.issuance.issuer.ShareIssuer
        self.facts = facts
        self._master = bytes(master_secret)
        self._locks = [threading.Lock() for _ in range(LOCK_STRIPES)]
        self._cp_lock = threading.Lock()
        self._checkpoints = RecentCheckpoints(core.log.store)
        self.unlogged_refusals = 0

    def _lock(self, subject: bytes) -> threading.Lock:
        digest = hashlib.sha256(subject).digest()
        return self._locks[int.from_bytes(digest[:4], "big") % LOCK_STRIPES]

    def issue(self, subject: bytes, epoch: int, kind: str) -> IssuedShare:
        core = self.core
        with self._lock(subject):
            now = core.clock()
            row = core.index.share(subject, epoch)
            if row is not None:
                return self._deliver(row, new=False)
            since = int((now - core.settings.rate_window_seconds) * 1000)
            if core.index.issued_since(subject, since) >= core.settings.shares_per_window:
                raise Refused(self._refuse(subject, epoch, entries.REFUSED_RATE_LIMITED,
                                           f"more than {core.settings.shares_per_window} new "
                                           f"shares in {core.settings.rate_window_seconds} s",
                                           now))
            hook = core.settings.policy
            if hook is not None:
                verdict = hook.check(PolicyRequest(core.dta_id, subject, epoch, b"", kind))
                log.info("policy hook %s %s the share of a %s for epoch %d", verdict.hook,
                         "allows" if verdict.allow else "refuses", kind, epoch)
                if not verdict.allow:
                    raise Refused(self._refuse(subject, epoch, entries.REFUSED_POLICY,
                                               verdict.reason or "refused by the policy hook",
                                               now))
            return self._new(subject, epoch, now)

    def _new(self, subject: bytes, epoch: int, now: float) -> IssuedShare:
        share = shares.derive(self._master, subject, epoch)
        public = backend.pubkey(share)
        time_ms = int(now * 1000)
        entry = entries.ShareIssued(subject, epoch, public, time_ms).encode()
        index = self.core.log.append(entry)
        row = ShareRow(subject, epoch, index, public, time_ms)
        self.core.index.add_share(row)
        return self._deliver(row, new=True, share=share, entry=entry)

    def _deliver(self, row: ShareRow, *, new: bool, share: bytes | None = None,
                 entry: bytes | None = None) -> IssuedShare:
        if entry is None:
            entry = self.core.log.store.entry(row.log_index)
        if share is None:
            share = shares.derive(self._master, row.subject, row.epoch)
            if backend.pubkey(share) != row.public_share:
                raise StoreError(f"log entry {row.log_index} holds a public share this D-TA's "
                                 "master secret does not give: the log is another D-TA's")
        receipt = self._pending_receipt(row.log_index, entry)
        statement = shares.sign_statement(self.core.signer, self.core.dta_id, row.subject,
                                          row.epoch, row.log_index, row.public_share)
        return IssuedShare(row.subject, row.epoch, share, statement, receipt, row.log_index, new)

    def _pending_receipt(self, index: int, entry: bytes) -> Receipt:
        # The receipt against the first checkpoint covering the entry, which the core closes
        # now if none does yet (ShareIssuer.pending_receipt: concurrent issuers share one),
        # with pending anchor evidence naming that checkpoint: `dta verify --allow-pending`
        # reads it, and GET /receipts/{index} gives the anchored one later.
        cp = self._checkpoints.covering(index)
        if cp is None:
            with self._cp_lock:  # one request asks the core; the others find its checkpoint
                cp = self._checkpoints.covering(index, refresh=True)
                if cp is None:
                    self.core.pending_receipt(index)
                    cp = self._checkpoints.covering(index, refresh=True)
        return self._checkpoints.receipt(index, entry, cp, evidence.pending(self.facts, cp.seq))

    def refuse(self, subject: bytes, epoch: int, reason: int, detail: str) -> Refusal:
        with self._lock(subject):
            return self._refuse(subject, epoch, reason, detail, self.core.clock())

    def _refuse(self, subject: bytes, epoch: int, reason: int, detail: str,
                now: float) -> Refusal:
        index = self.core.index
        found = index.refusal(subject, epoch, reason)
        if found is not None:
            return Refusal(reason, detail, found)
        since = int((now - self.core.settings.rate_window_seconds) * 1000)
        if index.refused_since(subject, since) >= self.core.settings.refusals_per_window:
            self.unlogged_refusals += 1
            return Refusal(reason, detail, None)
        time_ms = int(now * 1000)
        at = self.core.log.append(entries.ShareRefused(subject, epoch, reason, time_ms))
        index.add_refusal(subject, epoch, reason, at, time_ms)
        return Refusal(reason, detail, at, new_entry=True)


__all__ = ["IssuedShare", "REASON_NAMES", "Refusal", "Refused", "SubjectShares"]
