"""One D-TA as a service: handshakes and share requests over MQTT, its log and checkpoints, its
anchoring, its trust bundle. `dta authority run` is `AuthorityService.open(...).run(stop)`.

    service = AuthorityService.open(cfg, secrets, node=node, settings=IssuanceSettings(...))
    service.run(stop_event)          # or start() ... stop(); close()

`cfg` is the D-TA's dta.config.Config (its data directory: log.sqlite3, dta.sqlite3 the device
registry, anchors.sqlite3, and this package's issuance.sqlite3 and tickets.sqlite3), `secrets`
its unsealed dta.authority.identity.Secrets (master secret, identity key, Birth Record), `node`
a dta.anchor.rpc.Node or None (no trust bundles, no anchoring: roots stay pending). Several
services run side by side, in one process or several, each with its own data directory, on
one broker (distinct client ids, dta.issuance.link).

Listeners (`service.listeners`) see every IssuanceEvent: hello-registered, trust-answered,
trust-refused, handshake, resumed, share-logged (the entry is durable, nothing sent yet),
share-issued, share-refused, policy-verdict, receipt-pushed, refused (a message answered with
an error), peer-error, failed, anchor-round.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from dta.anchor.anchorer import Anchorer, NodeNotReady
from dta.anchor.store import AnchorStore
from dta.authority.identity import PublicFacts, Secrets
from dta.config import Config
from dta.errors import DecodeError, VerifyError
from dta.gateway import enrolment
from dta.gateway.admission import Admission
from dta.gateway.registry import Registry
from dta.issuance.index import INDEX_FILE, IssuanceIndex
from dta.issuance.issuer import ShareIssuer
from dta.issuance.link import AuthorityLink
from dta.issuance.peer import DevicePeer
from dta.issuance.receipts import Upgrades
from dta.issuance.settings import IssuanceSettings
from dta.issuance.strands import Strands
from dta.issuance.ticket_table import TICKETS_FILE, TicketTable
from dta.issuance.trust import TrustAnswers
from dta.log import Log
from dtacore import backend, channel, wire
from dtacore import handshake_wire as W
from dtacore.tickets import TicketStore

log = logging.getLogger("dta.issuance")

MQTT_SOURCE = "mqtt"
# Anchored receipts pushed at the start of one session at most (a device that was away long
# gets the rest at its next sessions, or asks with MSG_RECEIPT_REQUEST).
MAX_PUSHES = 4


@dataclass(frozen=True)
class IssuanceEvent:
    kind: str
    dta8: str
    fields: dict = field(default_factory=dict)


def identity_secret(signer) -> bytes:
    """The identity key itself: the handshake's ECDH needs it (dta.signing.Signer.ecdh_secret)."""
    return signer.ecdh_secret()


class AuthorityService:
    @classmethod
    def open(cls, cfg: Config, secrets: Secrets, *, node=None,
             settings: IssuanceSettings | None = None,
             clock: Callable[[], float] = time.time) -> "AuthorityService":
        return cls(cfg, secrets, node, settings or IssuanceSettings(), clock)

    def __init__(self, cfg: Config, secrets: Secrets, node, settings: IssuanceSettings, clock):
        self.cfg, self.settings, self.clock, self.node = cfg, settings, clock, node
        data = Path(cfg.data_dir)
        data.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.facts = PublicFacts.of(secrets.birth)
        self.dta_id, self.dta8 = self.facts.dta_id, self.facts.dta_id[:8]
        self.signer = secrets.signer
        self.identity_secret = identity_secret(secrets.signer)
        self.identity_pubkey = secrets.signer.public_key
        self.credential_id = bytes((settings.credential_id,))
        self.rng = os.urandom
        self.listeners: list[Callable[[IssuanceEvent], None]] = []
        self.log = Log.open(cfg, secrets.signer)
        self.registry = Registry(cfg.registry_db, max_pending=cfg.gateway.max_pending)
        self.admission = Admission(cfg.gateway.new_devices_per_minute,
                                   cfg.gateway.new_devices_per_source_per_minute)
        self.index = IssuanceIndex(data / INDEX_FILE)
        self.index.catch_up(self.log.store)  # before anything is answered: one entry per share
        self.tickets = TicketStore(clock, settings.ticket_lifetime, settings.ticket_uses,
                                   entries=TicketTable(data / TICKETS_FILE))
        self.anchorer = Anchorer.open(cfg, secrets.signer, self.facts, node)
        self._anchors = AnchorStore(cfg.anchor_db)  # a reader connection of our own
        self.trust = TrustAnswers(self._anchors, node, secrets.record)
        self.upgrades = Upgrades(self.log.store, self._anchors, node, self.facts,
                                 cfg.chain.k_for(self.facts.network))
        self.issuer = ShareIssuer(dta_id=self.dta_id, master_secret=secrets.master_secret,
                                  signer=secrets.signer, log=self.log, registry=self.registry,
                                  index=self.index, settings=settings, clock=clock,
                                  emit=self.emit)
        self._peers: OrderedDict[bytes, DevicePeer] = OrderedDict()
        self._peers_lock = threading.Lock()
        self._anchor_lock = threading.Lock()
        self._reader_lock = threading.Lock()
        self._strands: Strands | None = None
        self.link: AuthorityLink | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- events --------------------------------------------------------------------------------

    def emit(self, kind: str, **fields) -> None:
        event = IssuanceEvent(kind, self.dta8.hex(), fields)
        for listener in list(self.listeners):
            listener(event)

    # -- what a DevicePeer asks ----------------------------------------------------------------

    def device_key(self, kid: bytes) -> bytes | None:
        dev = self.registry.get(kid.hex())
        return None if dev is None else dev.pubkey

    def pushes(self, kid: bytes) -> list[bytes]:
        """The anchored receipts this device has not been sent yet, as MSG_RECEIPT parts."""
        height = self.index.trusted_height(kid)
        if height is None or self.node is None:
            return []
        out, sent = [], 0
        for row in self.index.shares_of(kid):
            if sent >= MAX_PUSHES or self.index.pushed(row.log_index):
                continue
            with self._reader_lock:
                data = self.upgrades.anchored(row.log_index, height)
            if data is not None:
                out += channel.receipt_parts(row.log_index, data)
                self.index.mark_pushed(row.log_index, height)
                sent += 1
                self.emit("receipt-pushed", key_id=kid.hex(), log_index=row.log_index)
        return out

    def receipt_messages(self, kid: bytes, index: int, height: int) -> list[bytes]:
        """MSG_RECEIPT_REQUEST: the entry's receipt, anchored if it can be, else pending."""
        row = self.index.share_at(index)
        if row is None or row.subject != kid:
            raise W.UnexpectedMessageError("log entry %d is not a share of this device" % index)
        with self._reader_lock:
            data = self.upgrades.anchored(index, height)
        if data is None:
            data = self.issuer.device_receipt(index)
        else:
            self.index.mark_pushed(index, height)
        return channel.receipt_parts(index, data)

    # -- frames --------------------------------------------------------------------------------

    def _peer(self, kid: bytes) -> DevicePeer:
        with self._peers_lock:
            peer = self._peers.get(kid)
            if peer is None:
                peer = self._peers[kid] = DevicePeer(kid, self)
                while len(self._peers) > self.settings.max_devices:
                    self._peers.popitem(last=False)
            self._peers.move_to_end(kid)
            return peer

    def handle(self, kid: bytes, payload: bytes) -> list[bytes]:
        """One TO_DTA payload from device `kid`: what to send back (transport-independent)."""
        return self._peer(kid).receive(payload)

    def _on_frame(self, kid: bytes, payload: bytes) -> None:
        def work():
            for reply in self.handle(kid, payload):
                self.link.send(kid, reply)
        self._strands.submit(kid, work)

    def _on_hello(self, topic: str, payload: bytes) -> None:
        claimed = topic.rsplit("/", 1)[-1]
        try:  # the device's own strand: its hello is learnt before its next frames are handled
            key = bytes.fromhex(claimed) if len(claimed) == 16 else claimed
        except ValueError:
            key = claimed
        self._strands.submit(key, lambda: self.learn_hello(claimed, payload))

    def learn_hello(self, claimed_kid: str, payload: bytes) -> str:
        """A hello from MQTT: a key the registry does not know yet is registered (pending,
        admitted by the gateway's rate limit); a known one teaches nothing (the gateway keeps
        boot counters). -> the outcome."""
        if len(payload) > wire.MAX_FRAME:
            return self._hello_outcome(claimed_kid, "oversized")
        try:
            hello = wire.verify_hello(wire.decode_hello(payload), backend.verify)
        except DecodeError:
            return self._hello_outcome(claimed_kid, "malformed")
        except VerifyError:
            return self._hello_outcome(claimed_kid, "bad-signature")
        kid = hello.key_id.hex()
        if kid != claimed_kid:
            return self._hello_outcome(claimed_kid, "topic-mismatch")
        dev = self.registry.get(kid)
        if dev is not None:
            return self._hello_outcome(kid, "known" if dev.pubkey == hello.pubkey
                                       else "key-conflict")
        # boot 0, not the hello's: the gateway sharing this registry keeps boot counters, and
        # the same hello reaching it after us must not look like a replayed boot
        out = self.registry.record_hello(kid, hello.pubkey, hello.board, hello.firmware,
                                         0, source=MQTT_SOURCE,
                                         admit=lambda: self.admission.admit(MQTT_SOURCE))
        return self._hello_outcome(kid, out.refusal[0] if out.refusal else "registered")

    def _hello_outcome(self, kid: str, outcome: str) -> str:
        self.emit("hello-" + outcome, key_id=kid[:16])
        return outcome

    # -- the operator's side (the demo and tests enrol through these; `dta devices` too) ------

    def enroll(self, kid_hex: str):
        return enrolment.enroll(self.registry, self.log.append, kid_hex)

    def provision(self, pubkey: bytes, board: str):
        return enrolment.provision(self.registry, self.log.append, pubkey, board)

    def revoke(self, kid_hex: str, reason: str = "retired"):
        return enrolment.revoke(self.registry, self.log.append, kid_hex, reason)

    # -- anchoring -----------------------------------------------------------------------------

    def anchor_round(self) -> dict:
        """Store a checkpoint of everything logged so far (device receipts are signed without
        one: dta.issuance.issuer), queue the Birth Record and new checkpoints, then one round
        against the node."""
        with self._anchor_lock:
            if self.log.store.size:
                self.log.checkpoint()  # none when the tree has not grown since the last one
            self.anchorer.queue_from(self.log.store)
            result = self.anchorer.step()
        self.emit("anchor-round", node=result["node"], pending=result["pending"])
        return result

    def _anchoring(self) -> None:
        while not self._stop.wait(self.settings.anchor_interval):
            try:
                self.anchor_round()
            except NodeNotReady as exc:
                log.error("anchoring for D-TA %s waits: %s", self.dta8.hex(), exc)
            except Exception:
                log.exception("an anchoring round failed; the next one tries again")

    # -- life cycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Connect to the broker and start the checkpoint tick and (with a node) anchoring."""
        self._stop.clear()
        self._strands = Strands(self.settings.workers, self.settings.max_queued_frames)
        self.link = AuthorityLink(self.cfg, self.dta_id, on_frame=self._on_frame,
                                  on_hello=self._on_hello)
        self.link.start()
        targets = [lambda: self.log.run_checkpoints(self._stop)]
        if self.node is not None and self.settings.anchor_interval > 0:
            targets.append(self._anchoring)
        for target in targets:
            t = threading.Thread(target=target, daemon=True, name=f"dta-{self.dta8.hex()}")
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        if self.link is not None:
            self.link.stop()
            self.link = None
        if self._strands is not None:
            self._strands.shutdown()
            self._strands = None
        for t in self._threads:
            t.join()
        self._threads = []

    def run(self, stop: threading.Event) -> None:
        """Serve until `stop` is set (the CLI sets it on SIGINT/SIGTERM)."""
        self.start()
        try:
            stop.wait()
        finally:
            self.stop()

    def close(self) -> None:
        self.stop()
        self.tickets.entries.close()
        self.index.close()
        self.registry.close()
        self._anchors.close()
        self.anchorer.store.close()
        self.log.store.close()

    def __enter__(self) -> "AuthorityService":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
