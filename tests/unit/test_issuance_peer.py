"""The D-TA's side of the channel without a transport (AuthorityService.handle): duplicates get
the first answer; every refused message gets a typed error and changes nothing; the issuance
rules (enrolment, one entry per subject and epoch, rate limits, refusal budget, the policy
hook); the index rebuilt from the log after a crash between the two writes; tickets that
survive a restart; receipts asked for again. Real log, registry and stores on disk."""

import os
import sys
import threading

import pytest

from dta.config import Config, LogConfig
from dta.issuance import CallablePolicy, CommandPolicy, IssuanceSettings
from dta.issuance.service import AuthorityService
from dtacore import backend, channel, entries, receipt_bytes, resumption, shares, wire
from dtacore import handshake_wire as W
from dtacore.handshake import Initiator
from tests.fixtures.issuance import make_secrets


class Dta:
    def __init__(self, root, secrets=None, **settings):
        self.root = root
        self.secrets = secrets or make_secrets("unit")
        self.settings = IssuanceSettings(anchor_interval=0, **settings)
        self.svc = self.open()

    def open(self):
        cfg = Config(data_dir=self.root, log=LogConfig(origin="unit.test/log"))
        return AuthorityService.open(cfg, self.secrets, settings=self.settings)

    def restart(self):
        self.svc.close()
        self.svc = self.open()

    def state(self):
        s = self.svc
        return s.log.store.size, len(s.registry.devices()), len(s.tickets.entries)


class Device:
    def __init__(self, dta: Dta, enrolled=True, secret=None):
        self.secret = secret or os.urandom(32)
        self.pub = backend.pubkey(self.secret)
        self.kid = wire.key_id(self.pub)
        self.dta = dta
        if enrolled:
            dta.svc.provision(self.pub, "unit")
        self.session = self.ticket = None

    def lookup(self, cid, ead):
        return self.dta.svc.identity_pubkey if cid == b"\x00" else None

    def full(self):
        i = Initiator(self.secret, self.pub, self.kid, os.urandom, self.lookup)
        [m2] = self.dta.svc.handle(self.kid, i.start())
        out = self.dta.svc.handle(self.kid, i.receive(m2))
        assert i.receive(out[0]) is None
        self.session, self.ticket = i.session, i.ticket
        return i, out

    def resume(self):
        ri = resumption.ResumeInitiator(self.ticket, os.urandom)
        out = self.dta.svc.handle(self.kid, ri.start())
        ri.receive(out[0])
        self.session = ri.session
        return ri, out

    def ask(self, message):
        """-> decoded application messages, or the error code."""
        out = self.dta.svc.handle(self.kid, self.session.seal(message))
        if len(out) == 1 and out[0][0] == W.ERROR:
            return W.decode_error(out[0])[1]
        return [channel.decode_message(self.session.open(r)) for r in out]

    def share(self, epoch):
        got = self.ask(channel.share_request(epoch))
        kinds = [k for k, _ in got]
        if kinds[0] == channel.MSG_SHARE_REFUSED:
            return ("refused", got[0][1][1])
        share, stmt = got[0][1]
        ps = shares.decode_statement(stmt)
        shares.check_share(share, ps, self.dta.svc.identity_pubkey, self.kid, epoch)
        return ("issued", ps.log_index, share)


@pytest.fixture
def dta(tmp_path):
    d = Dta(tmp_path / "dta")
    yield d
    d.svc.close()


def test_duplicates_get_the_first_answer(dta):
    dev = Device(dta)
    i = Initiator(dev.secret, dev.pub, dev.kid, os.urandom, dev.lookup)
    m1 = i.start()
    [m2] = dta.svc.handle(dev.kid, m1)
    assert dta.svc.handle(dev.kid, m1) == [m2]
    m3 = i.receive(m2)
    m4 = dta.svc.handle(dev.kid, m3)[0]
    assert dta.svc.handle(dev.kid, m3) == [m4]
    i.receive(m4)
    dev.ticket = i.ticket
    ri = resumption.ResumeInitiator(dev.ticket, os.urandom)
    r1 = ri.start()
    [r2] = dta.svc.handle(dev.kid, r1)
    assert dta.svc.handle(dev.kid, r1) == [r2]
    ri.receive(r2)
    dev.session = ri.session
    assert dev.share(1)[0] == "issued"


def test_every_refused_message_gets_a_typed_error_and_changes_nothing(dta):
    dev = Device(dta)
    dev.full()
    before = dta.state()
    h = dta.svc.handle

    def code(kid, payload):
        [err] = h(kid, payload)
        return W.decode_error(err)[1]

    assert code(dev.kid, b"") == 1
    assert code(dev.kid, b"\x42junk") == 1
    assert code(dev.kid, b"\x12\x00" + bytes(98)) == 6  # message_2: the D-TA's own kind
    record = dev.session.seal(channel.share_request(1))
    assert code(dev.kid, record[:1] + bytes([record[1] ^ 0xFF]) + record[2:]) == 6
    assert code(dev.kid, record[:-1] + bytes([record[-1] ^ 1])) == 5
    assert code(dev.kid, dev.session.seal(b"\x09")) == 1
    assert code(dev.kid, dev.session.seal(channel.time_message(1))) == 6
    assert code(dev.kid, dev.session.seal(channel.receipt_request(0, 1))) == 6
    unknown = Device(dta, enrolled=False)
    i = Initiator(unknown.secret, unknown.pub, unknown.kid, os.urandom, unknown.lookup)
    [m2] = h(unknown.kid, i.start())
    assert code(unknown.kid, i.receive(m2)) == 3
    i = Initiator(dev.secret, dev.pub, dev.kid, os.urandom, dev.lookup)
    [m2] = h(unknown.kid, i.start())  # routed as another device than it claims to be
    assert code(unknown.kid, i.receive(m2)) == 4
    forged = Initiator(os.urandom(32), dev.pub, dev.kid, os.urandom, dev.lookup)
    [m2] = h(dev.kid, forged.start())
    assert code(dev.kid, forged.receive(m2)) == 5
    stale = resumption.Ticket(os.urandom(8), 0, os.urandom(32), 4, 60, 0, dta.svc.identity_pubkey,
                              b"\x00")
    assert code(dev.kid, resumption.ResumeInitiator(stale, os.urandom).start()) == 8
    assert h(dev.kid, W.encode_error(0, 5)) == []  # an error is never answered
    assert dta.state() == before
    assert dev.share(1)[0] == "issued"  # the genuine session still works
    # a replayed record: answered once, refused after
    record = dev.session.seal(channel.share_request(2))
    assert len(h(dev.kid, record)) > 1
    assert code(dev.kid, record) == 7


def test_one_entry_per_subject_and_epoch_and_the_rate_limits(tmp_path):
    d = Dta(tmp_path / "dta", shares_per_window=2, refusals_per_window=2)
    dev = Device(d)
    dev.full()
    first = dev.share(1)
    assert dev.share(1) == first  # a retry: the same share, the same entry
    assert dev.share(2)[0] == "issued"
    assert dev.share(3) == ("refused", entries.REFUSED_RATE_LIMITED)
    assert dev.share(3) == ("refused", entries.REFUSED_RATE_LIMITED)
    assert dev.share(4) == ("refused", entries.REFUSED_RATE_LIMITED)
    size = d.svc.log.store.size
    assert dev.share(5) == ("refused", entries.REFUSED_RATE_LIMITED)  # past the budget
    assert d.svc.log.store.size == size and d.svc.issuer.unlogged_refusals == 1
    logged = [entries.decode(d.svc.log.store.entry(i)) for i in range(size)]
    assert [(type(e).__name__, e.epoch) for e in logged
            if isinstance(e, (entries.ShareIssued, entries.ShareRefused))] == [
        ("ShareIssued", 1), ("ShareIssued", 2), ("ShareRefused", 3), ("ShareRefused", 4)]
    d.svc.close()


def test_a_crash_between_log_and_index_is_caught_up_on_open(dta):
    dev = Device(dta)
    share = shares.derive(dta.secrets.master_secret, dev.kid, 9)
    # what a SIGKILL right after Log.append leaves: the entry, and no index row
    index = dta.svc.log.append(entries.ShareIssued(dev.kid, 9, backend.pubkey(share), 1))
    dta.restart()
    dev.full()
    assert dev.share(9) == ("issued", index, share)
    assert dta.svc.log.store.size == index + 1


def test_the_policy_hook_decides_and_fails_closed(tmp_path):
    never = threading.Event()

    def hook(req):
        if req.epoch == 13:
            return False, "epoch 13 is not issued here"
        if req.epoch == 14:
            never.wait()  # a hook that hangs
        return True

    d = Dta(tmp_path / "dta", policy=CallablePolicy(hook, timeout=0.2))
    seen = []
    d.svc.listeners.append(lambda e: seen.append(e) if e.kind == "policy-verdict" else None)
    dev = Device(d)
    dev.full()
    assert dev.share(1)[0] == "issued"
    assert dev.share(13) == ("refused", entries.REFUSED_POLICY)
    assert dev.share(14) == ("refused", entries.REFUSED_POLICY)
    never.set()
    assert [(e.fields["epoch"], e.fields["allow"]) for e in seen] == [(1, True), (13, False),
                                                                      (14, False)]
    assert "within 0.2 s" in seen[-1].fields["reason"]
    d.svc.close()


def test_a_command_hook(tmp_path):
    script = tmp_path / "hook.py"
    script.write_text("import json, sys, time\nreq = json.load(sys.stdin)\n"
                      "if req['epoch'] == 2: print('no epoch 2'); sys.exit(1)\n"
                      "if req['epoch'] == 3: time.sleep(30)\n"
                      "if req['epoch'] == 4: sys.exit(7)\n")
    d = Dta(tmp_path / "dta", policy=CommandPolicy([sys.executable, str(script)], timeout=1.0))
    dev = Device(d)
    dev.full()
    assert dev.share(1)[0] == "issued"
    for epoch in (2, 3, 4):
        assert dev.share(epoch) == ("refused", entries.REFUSED_POLICY)
    reasons = {e.epoch: e.reason for e in (entries.decode(d.svc.log.store.entry(i))
                                           for i in range(d.svc.log.store.size))
               if isinstance(e, entries.ShareRefused)}
    assert reasons == {2: entries.REFUSED_POLICY, 3: entries.REFUSED_POLICY,
                       4: entries.REFUSED_POLICY}
    d.svc.close()


def test_unenrolled_revoked_and_trust_without_a_node(dta):
    dev = Device(dta, enrolled=False)
    dta.svc.learn_hello(dev.kid.hex(), _hello(dev))
    assert dta.svc.registry.get(dev.kid.hex()).state == "pending"
    dev.full()
    assert dev.share(1) == ("refused", entries.REFUSED_NOT_ENROLLED)
    dta.svc.enroll(dev.kid.hex())
    assert dev.share(1)[0] == "issued"
    dta.svc.revoke(dev.kid.hex(), "retired")
    assert dev.share(1) == ("refused", entries.REFUSED_NOT_ENROLLED)
    [refused] = dta.svc.handle(dev.kid, channel.trust_request(5))
    assert channel.decode_trust_refused(refused) == channel.TRUST_UNBORN
    [refused] = dta.svc.handle(dev.kid, b"\x20\x00")
    assert channel.decode_trust_refused(refused) == channel.TRUST_MALFORMED


def _hello(dev, boot=1):
    unsigned = wire.hello_unsigned(dev.pub, boot, "unit", "0.1.0")
    return unsigned + backend.sign(dev.secret, wire.hello_digest(unsigned), os.urandom(32))


def test_hellos_teach_keys_and_bad_ones_change_nothing(dta):
    dev = Device(dta, enrolled=False)
    good = _hello(dev)
    bad = good[:-1] + bytes([good[-1] ^ 1])
    assert dta.svc.learn_hello(dev.kid.hex(), bad) == "bad-signature"
    assert dta.svc.learn_hello("00" * 8, good) == "topic-mismatch"
    assert dta.svc.learn_hello(dev.kid.hex(), good[:10]) == "malformed"
    assert dta.svc.registry.get(dev.kid.hex()) is None
    assert dta.svc.learn_hello(dev.kid.hex(), good) == "registered"
    assert dta.svc.learn_hello(dev.kid.hex(), _hello(dev, 2)) == "known"


def test_a_hello_the_dta_learnt_first_is_not_a_replayed_boot_at_the_gateway(dta):
    # the D-TA and the gateway share the registry and both read the hello topic, in either order
    dev = Device(dta, enrolled=False)
    assert dta.svc.learn_hello(dev.kid.hex(), _hello(dev, 5)) == "registered"
    out = dta.svc.registry.record_hello(dev.kid.hex(), dev.pub, "unit", "0.1.0", 5)
    assert out.refusal is None and out.device.boot == 5
    again = dta.svc.registry.record_hello(dev.kid.hex(), dev.pub, "unit", "0.1.0", 5)
    assert again.refusal[0] == "replayed-boot"  # the gateway still refuses a real replay


def test_tickets_survive_a_restart_and_are_private(dta):
    dev = Device(dta)
    dev.full()
    path = dta.root / "tickets.sqlite3"
    assert path.stat().st_mode & 0o777 == 0o600
    dta.restart()
    dev.resume()
    assert dev.share(1)[0] == "issued"
    dta.restart()
    dev.resume()  # the use spent before the restart stays spent, the next one is taken
    assert dev.share(1)[0] == "issued"


def test_a_receipt_asked_for_again(dta):
    dev = Device(dta)
    dev.full()
    _, index, _ = dev.share(3)
    got = dev.ask(channel.receipt_request(index, 0))
    asm = channel.ReceiptAssembler()
    data = [asm.add(*f) for k, f in got if k == channel.MSG_RECEIPT][-1]
    r = receipt_bytes.decode(data)
    assert r.anchor is None  # no node here: still pending
    receipt_bytes.check_share_entry(r, dta.svc.identity_pubkey, dev.kid, 3,
                                    backend.pubkey(shares.derive(dta.secrets.master_secret,
                                                                 dev.kid, 3)), index)
    assert dev.ask(channel.receipt_request(index + 100, 0)) == 6
