"""A device on the host: the device's side of the D-TA channel (docs/channel.md) on CPython,
with dtacore on the coincurve backend, over MQTT (dta.issuance.device_link). It is the
protocol, not a mock of it: the tests, the benchmark and tools speak to real D-TAs with it.

    client = DeviceClient(secret, provisioning, DeviceLink(...).start())
    client.hello()                      # the D-TAs learn the key (and register it, pending)
    client.trust(dta_id)                # the birth check, from the D-TA's bundle (dtacore.trust)
    client.connect(dta_id)              # resumed if a ticket is held, else a full handshake
    issued = client.request_share(dta_id, epoch)
    key = client.enroll(epoch)          # trust + connect + share from every D-TA, combined

Everything a D-TA sends is checked: the bundle link by link, message_2 against the key the
birth check verified, each share against its signed statement, each receipt (pending: the
ShareIssued entry is in a checkpoint signed by the D-TA; anchored: all the way to the
confirmations), each voucher's signature. A refused message is answered with the handshake's
error message; an error message from the D-TA raises `PeerRefused` (its code says why).
Timeouts are the protocol's retransmission timer: the last handshake message is sent again,
a share request is sent again in a new record (the D-TA answers a retry from its index).
"""

from __future__ import annotations

import os
import queue
import time
from dataclasses import dataclass, field

from dta.errors import DtaError
from dta.issuance.device_link import DeviceLink
from dtacore import backend, channel, receipt_bytes, resumption, shares, trust, voucher, wire
from dtacore import handshake_wire as W
from dtacore import network as networks
from dtacore.errors import DecodeError, ProtocolError, VerifyError
from dtacore.handshake import Initiator

DEFAULT_TIMEOUT = 2.0
# Share requests sent (in new records) before giving up; handshakes retransmit per
# dtacore.exchange.MAX_RETRANSMITS.
REQUEST_ATTEMPTS = 4


class ClientError(DtaError):
    """The device side could not get what it asked for."""


class NoAnswer(ClientError):
    pass


class PeerRefused(ClientError):
    def __init__(self, msg: str, code: int):
        super().__init__(msg)
        self.code = code


class TrustRefused(ClientError):
    def __init__(self, msg: str, reason: int):
        super().__init__(msg)
        self.reason = reason


class ShareRefused(ClientError):
    def __init__(self, msg: str, reason: int):
        super().__init__(msg)
        self.reason = reason


@dataclass(frozen=True)
class Provisioning:
    """What a device is flashed with (config.json): the federation's D-TA ids in order (the
    index is each one's credential id), the network, k, and a header it trusts."""

    dta_ids: tuple[bytes, ...]
    network: str
    confirmations: int
    checkpoint_height: int
    checkpoint_header: bytes

    @property
    def net(self):
        return networks.by_name(self.network)


@dataclass
class IssuedShare:
    dta_id: bytes
    epoch: int
    share: bytes
    statement: shares.PublicShare
    receipt: bytes = b""
    voucher: bytes = b""
    dta_time: int = 0
    anchored_height: int | None = None  # set once an anchored receipt checked

    @property
    def log_index(self) -> int:
        return self.statement.log_index


@dataclass
class _Wait:
    epoch: int
    issued: IssuedShare | None = None
    refused: int | None = None
    parts: dict = field(default_factory=dict)


class DeviceClient:
    def __init__(self, secret: bytes, provisioning: Provisioning, link: DeviceLink, *,
                 board: str = "host", firmware: str = "0.1.0", timeout: float = DEFAULT_TIMEOUT,
                 rng=os.urandom, clock=time.time):
        self.secret, self.pubkey = bytes(secret), backend.pubkey(secret)
        self.kid = wire.key_id(self.pubkey)
        self.prov, self.link = provisioning, link
        self.board, self.firmware = board, firmware
        self.timeout, self.rng, self.clock = timeout, rng, clock
        self.trusted: dict[bytes, trust.VerifiedDta] = {}
        self.tickets: dict[bytes, resumption.Ticket] = {}
        self.sessions: dict[bytes, object] = {}
        self.issued: dict[tuple[bytes, int], IssuedShare] = {}
        self.boot = 0
        self._assemblers: dict[bytes, channel.ReceiptAssembler] = {}
        self.errors_sent = 0

    # -- identity and trust --------------------------------------------------------------------

    def hello(self, boot: int | None = None) -> None:
        self.boot = self.boot + 1 if boot is None else boot
        unsigned = wire.hello_unsigned(self.pubkey, self.boot, self.board, self.firmware)
        self.link.hello(unsigned + backend.sign(self.secret, wire.hello_digest(unsigned),
                                                self.rng(32)))

    def pin(self, dta_id: bytes, identity_pubkey: bytes) -> None:
        """Trust a D-TA key without its bundle (a tool that has checked it otherwise)."""
        self.trusted[bytes(dta_id)] = trust.VerifiedDta(bytes(dta_id), bytes(identity_pubkey),
                                                        0, 0, b"")

    def trust(self, dta_id: bytes) -> trust.VerifiedDta:
        """The device's own check of the D-TA's birth; LinkError names a broken link."""
        dta8, p = bytes(dta_id[:8]), self.prov
        for _ in range(REQUEST_ATTEMPTS):
            check = trust.BirthCheck(dta_id, p.net, p.confirmations, p.checkpoint_header,
                                     p.checkpoint_height)
            self.link.send(dta8, channel.trust_request(p.checkpoint_height))
            while True:
                payload = self._get(dta8, self.timeout)
                if payload is None:
                    break  # no answer: ask again, from the start
                if payload[0] == channel.TRUST_REFUSED:
                    reason = channel.decode_trust_refused(payload)
                    raise TrustRefused(f"D-TA {dta8.hex()} sends no bundle (reason {reason})",
                                       reason)
                if payload[0] != channel.TRUST_PART:
                    continue  # a late message of an earlier session
                check.feed(payload[1:])
                if check.done:
                    verified = check.result()
                    self.trusted[bytes(dta_id)] = verified
                    return verified
        raise NoAnswer(f"D-TA {dta8.hex()} sent no trust bundle")

    # -- handshakes ------------------------------------------------------------------------------

    def _lookup_for(self, dta_id: bytes):
        index = self.prov.dta_ids.index(dta_id)

        def lookup(cred_id, ead):
            if len(cred_id) != 1 or cred_id[0] >= len(self.prov.dta_ids):
                return None
            if cred_id[0] != index:
                raise W.UntrustedCredentialError("message_2: credential %d, this D-TA is %d"
                                                 % (cred_id[0], index))
            known = self.trusted.get(dta_id)
            if known is None:
                raise W.UntrustedCredentialError("D-TA %d is not verified on this device"
                                                 % index)
            return known.identity_pubkey
        return lookup

    def connect(self, dta_id: bytes, *, resume: bool = True) -> str:
        """A session with the D-TA: 'resumed' with a ticket if it is taken, else 'full'."""
        dta_id = bytes(dta_id)
        ticket = self.tickets.get(dta_id)
        if resume and ticket is not None and ticket.use < ticket.max_uses:
            try:
                self.sessions[dta_id] = self._run(dta_id, resumption.ResumeInitiator(
                    ticket, self.rng, self._lookup_for(dta_id)))
                return "resumed"
            except PeerRefused as exc:
                if exc.code != W.TicketRejectedError.code:
                    raise
        self.tickets.pop(dta_id, None)
        party = Initiator(self.secret, self.pubkey, self.kid, self.rng, self._lookup_for(dta_id))
        self.sessions[dta_id] = self._run(dta_id, party)
        if party.ticket is not None:
            self.tickets[dta_id] = party.ticket
        return "full"

    def _run(self, dta_id: bytes, party):
        dta8 = dta_id[:8]
        self.link.send(dta8, party.start())
        while party.session is None or not party.session.confirmed:
            payload = self._get(dta8, self.timeout)
            if payload is None:
                try:
                    self.link.send(dta8, party.retransmit())
                except W.AbortedError:
                    raise NoAnswer(f"D-TA {dta8.hex()} did not answer the handshake") from None
                continue
            self._step(dta8, party, payload)
        return party.session

    def _step(self, dta8: bytes, party, payload: bytes) -> None:
        try:
            reply = party.receive(payload)
        except W.PeerError as exc:
            raise PeerRefused(f"D-TA {dta8.hex()} refused the handshake: "
                              f"{W.ERR_NAMES[exc.code]}", exc.code) from None
        except W.UnexpectedMessageError:
            return  # a late message of an earlier exchange, not ours to answer
        except (DecodeError, VerifyError) as exc:
            self._answer_error(dta8, party.error_reply(exc))
            if isinstance(exc, (W.UnknownCredentialError, W.UntrustedCredentialError)):
                raise
            return
        if reply is not None:
            self.link.send(dta8, reply)

    def _answer_error(self, dta8: bytes, error: bytes) -> None:
        self.errors_sent += 1
        self.link.send(dta8, error)

    def _get(self, dta8: bytes, timeout: float) -> bytes | None:
        try:
            return self.link.inbox(dta8).get(timeout=timeout)
        except queue.Empty:
            return None

    # -- inside a session ------------------------------------------------------------------------

    def session(self, dta_id: bytes):
        s = self.sessions.get(bytes(dta_id))
        if s is None:
            self.connect(dta_id)
            s = self.sessions[bytes(dta_id)]
        return s

    def send_message(self, dta_id: bytes, message: bytes) -> bytes:
        """Seal one application message in the session and send it; -> the record."""
        record = self.session(dta_id).seal(message)
        self.link.send(dta_id[:8], record)
        return record

    def next_message(self, dta_id: bytes, timeout: float):
        """The next application message of the session, (kind, fields), or None on timeout.
        Replays are dropped; an error message raises PeerRefused (a replay error, 7, is the
        answer to a duplicate of ours and is dropped too)."""
        s, dta8 = self.sessions[bytes(dta_id)], dta_id[:8]
        deadline = time.monotonic() + timeout
        while True:
            payload = self._get(dta8, max(0.0, deadline - time.monotonic()))
            if payload is None:
                return None
            if payload[0] == W.ERROR:
                code = W.decode_error(payload)[1]
                if code != W.ReplayError.code:
                    raise PeerRefused(f"D-TA {dta8.hex()} refused our message: "
                                      f"{W.ERR_NAMES[code]}", code)
                continue
            if payload[0] != W.RECORD or W.peek(payload)[1] != s.conn_id:
                continue  # another session's, or a handshake message late
            try:
                plain = s.open(payload)
            except W.ReplayError:
                continue
            except ProtocolError as exc:
                self._answer_error(dta8, W.encode_error(s.peer_conn_id, W.error_code(exc)))
                continue
            return channel.decode_message(plain)

    def request_share(self, dta_id: bytes, epoch: int) -> IssuedShare:
        """The D-TA's share for this device and epoch, checked; ShareRefused if it refuses.
        No answer in time: the request again, in a new record (the D-TA answers a retry from
        its index). The D-TA lost the session (it restarted): a new handshake first."""
        dta_id = bytes(dta_id)
        wait = _Wait(epoch)
        for _ in range(REQUEST_ATTEMPTS):
            try:
                self.send_message(dta_id, channel.share_request(epoch))
                if self._collect(dta_id, wait):
                    return self._result(dta_id, wait)
            except PeerRefused as exc:
                if exc.code not in (W.UnexpectedMessageError.code, W.AbortedError.code):
                    raise
                self.sessions.pop(dta_id, None)
        raise NoAnswer(f"D-TA {dta_id[:8].hex()} did not answer share requests")

    def await_share(self, dta_id: bytes, epoch: int) -> IssuedShare:
        """The answer to a share request already sent (send_message), without retrying."""
        wait = _Wait(epoch)
        if not self._collect(bytes(dta_id), wait):
            raise NoAnswer(f"D-TA {dta_id[:8].hex()} did not answer the share request")
        return self._result(bytes(dta_id), wait)

    def _result(self, dta_id: bytes, wait: _Wait) -> IssuedShare:
        if wait.refused is not None:
            raise ShareRefused(f"D-TA {dta_id[:8].hex()} refused the share for epoch "
                               f"{wait.epoch}: reason {wait.refused}", wait.refused)
        self.issued[(dta_id, wait.epoch)] = wait.issued
        return wait.issued

    def _collect(self, dta_id: bytes, wait: _Wait) -> bool:
        deadline = time.monotonic() + self.timeout
        while True:
            got = self.next_message(dta_id, max(0.0, deadline - time.monotonic()))
            if got is None:
                return False
            self._on_message(dta_id, got, wait)
            if wait.refused is not None:
                return True
            i = wait.issued
            if i is not None and i.receipt and i.voucher and i.dta_time:
                return True

    def _on_message(self, dta_id: bytes, got, wait: _Wait | None) -> None:
        kind, fields = got
        if kind == channel.MSG_SHARE and wait is not None:
            self._on_share(dta_id, fields, wait)
        elif kind == channel.MSG_SHARE_REFUSED and wait is not None and fields[0] == wait.epoch:
            wait.refused = fields[1]
        elif kind == channel.MSG_RECEIPT:
            self._on_receipt_part(dta_id, fields, wait)
        elif kind == channel.MSG_VOUCHER and wait is not None and wait.issued is not None:
            self._check_voucher(dta_id, fields[0])
            wait.issued.voucher = fields[0]
        elif kind == channel.MSG_TIME and wait is not None and wait.issued is not None:
            wait.issued.dta_time = fields[0]

    def _on_share(self, dta_id: bytes, fields, wait: _Wait) -> None:
        share, stmt = fields
        ps = shares.decode_statement(stmt)
        if ps.epoch != wait.epoch or ps.dta_id != dta_id:
            return
        shares.check_share(share, ps, self.trusted[dta_id].identity_pubkey, self.kid, wait.epoch)
        if wait.issued is None or wait.issued.log_index != ps.log_index:
            wait.issued = IssuedShare(dta_id, wait.epoch, share, ps)
        self._match_receipt(dta_id, wait)

    def _on_receipt_part(self, dta_id: bytes, fields, wait: _Wait | None) -> None:
        asm = self._assemblers.setdefault(dta_id, channel.ReceiptAssembler())
        try:
            data = asm.add(*fields)
        except DecodeError:
            self._assemblers[dta_id] = channel.ReceiptAssembler()
            return  # a part lost or late: the retry brings the whole receipt again
        if data is None:
            return
        index = fields[0]
        if wait is not None:
            wait.parts[index] = data
            self._match_receipt(dta_id, wait)
        for issued in list(self.issued.values()):
            if issued.dta_id == dta_id and issued.log_index == index:
                self.check_receipt(issued, data)

    def _match_receipt(self, dta_id: bytes, wait: _Wait) -> None:
        i = wait.issued
        if i is not None and not i.receipt and i.log_index in wait.parts:
            self.check_receipt(i, wait.parts.pop(i.log_index))

    def check_receipt(self, issued: IssuedShare, data: bytes) -> None:
        """A share's receipt: its entry is this share's ShareIssued entry in a checkpoint the
        D-TA signed; an anchored one then all the way to k confirmations."""
        r = receipt_bytes.decode(data)
        key = self.trusted[issued.dta_id].identity_pubkey
        receipt_bytes.check_share_entry(r, key, self.kid, issued.epoch,
                                        issued.statement.public_share, issued.log_index)
        if r.anchor is not None:
            header, height = self._trusted_header(issued.dta_id, r.anchor.checkpoint_height)
            issued.anchored_height = receipt_bytes.check_anchored(
                r, issued.dta_id, key, header, height, self.prov.net, self.prov.confirmations)
        issued.receipt = data

    def _trusted_header(self, dta_id: bytes, height: int) -> tuple[bytes, int]:
        p = self.prov
        if height == p.checkpoint_height:
            return p.checkpoint_header, height
        known = self.trusted.get(dta_id)
        if known is not None and known.tip_height == height and known.tip_header:
            return known.tip_header, height
        raise VerifyError(f"the receipt's headers follow height {height}, a header this device "
                          "does not hold")

    def _check_voucher(self, dta_id: bytes, v: bytes) -> None:
        expiry = int.from_bytes(v[8:12], "big")
        if v[:8] != dta_id[:8] or not backend.verify(
                self.trusted[dta_id].identity_pubkey, voucher.digest(dta_id, self.pubkey, expiry),
                v[12:]):
            raise VerifyError("the voucher is not this D-TA's for this device's key")

    def request_receipt(self, dta_id: bytes, epoch: int) -> IssuedShare:
        """Ask again for a share's receipt (anchored if it is by now), with headers after the
        provisioned checkpoint."""
        issued = self.issued[(bytes(dta_id), epoch)]
        self.send_message(dta_id, channel.receipt_request(issued.log_index,
                                                          self.prov.checkpoint_height))
        self.collect_receipts(dta_id, lambda: False, self.timeout, issued)
        return issued

    def collect_receipts(self, dta_id: bytes, done, timeout: float,
                         issued: IssuedShare | None = None) -> bool:
        """Read the session's messages (pushed receipts) until done() or a receipt for
        `issued` arrives, or the timeout."""
        deadline = time.monotonic() + timeout
        before = issued.receipt if issued is not None else None
        while not done():
            got = self.next_message(dta_id, max(0.0, deadline - time.monotonic()))
            if got is None:
                return False
            self._on_message(dta_id, got, None)
            if issued is not None and issued.receipt is not before:
                return True
        return True

    # -- the combined key ------------------------------------------------------------------------

    def enroll(self, epoch: int) -> tuple[bytes, bytes]:
        """A share from every provisioned D-TA (trusting and connecting as needed), combined.
        -> (combined secret, combined public key)"""
        got = []
        for dta_id in self.prov.dta_ids:
            if dta_id not in self.trusted:
                self.trust(dta_id)
            got.append(self.request_share(dta_id, epoch))
        return self.combine(epoch)

    def combine(self, epoch: int) -> tuple[bytes, bytes]:
        got = [self.issued[(d, epoch)] for d in self.prov.dta_ids]
        return shares.combine([g.share for g in got], [g.statement.public_share for g in got])
