"""Three D-TAs born and confirmed on the real bcoin regtest node serve over a real mosquitto; a
host-side device checks each one's birth from its bundle, runs a full handshake, resumes, gets
a share from each and combines them. The shares' entries are in each D-TA's log (write-ahead),
the same subject and epoch give the same combined key to a wiped device, a new epoch another,
an unenrolled or revoked device is refused (and the refusal is logged), a D-TA not born yet
answers a typed refusal, and anchored receipts reach the device at its next session."""

import os

import pytest

from dta.issuance import ShareRefused, TrustRefused
from dta.issuance.receipts import to_receipt
from dta.verify import TrustRoot, verify_receipt
from dtacore import backend, channel, entries, receipt_bytes
from tests.fixtures.issuance import born_federation, make_secrets


def share_entries(svc, kid: bytes) -> list:
    store = svc.log.store
    out = []
    for i in range(store.size):
        e = entries.decode(store.entry(i))
        if isinstance(e, (entries.ShareIssued, entries.ShareRefused)) and e.subject == kid:
            out.append((i, e))
    return out


@pytest.fixture(scope="module")
def member(federation):
    """A device that said hello, was enrolled by the operator on every D-TA, and holds
    epoch 1's shares."""
    c = federation.client()
    federation.hello(c)
    for svc in federation.services:
        assert svc.registry.get(c.kid.hex()).state == "pending"
    federation.enrol(c)
    return c


def test_trust_full_resumed_and_combined(federation, member):
    c = member
    for dta_id in federation.dta_ids:
        verified = c.trust(dta_id)
        assert verified.identity_pubkey == federation.services[
            federation.dta_ids.index(dta_id)].identity_pubkey
        assert c.connect(dta_id) == "full"
        first = c.request_share(dta_id, 1)
        assert c.connect(dta_id) == "resumed"
        again = c.request_share(dta_id, 1)
        assert (again.share, again.log_index) == (first.share, first.log_index)
    secret, combined = c.combine(1)
    publics = [c.issued[(d, 1)].statement.public_share for d in federation.dta_ids]
    assert combined == backend.point_sum(publics) == backend.pubkey(secret)
    assert all(c.issued[(d, 1)].share != secret for d in federation.dta_ids)
    assert all(p != combined for p in publics)
    for svc in federation.services:
        logged = share_entries(svc, c.kid)
        assert len(logged) == 1  # one entry, however often it was asked for
        index, entry = logged[0]
        assert isinstance(entry, entries.ShareIssued) and entry.epoch == 1
        assert (index, entry.public_share) == (c.issued[(svc.dta_id, 1)].log_index,
                                               c.issued[(svc.dta_id, 1)].statement.public_share)
        kinds = [e.kind for e in federation.events[federation.services.index(svc)].events]
        assert kinds.index("share-logged") < kinds.index("share-issued")


def test_a_wiped_device_gets_its_key_back_and_a_new_epoch_rotates_it(federation, member):
    before = member.combine(1)[1] if (federation.dta_ids[0], 1) in member.issued else None
    if before is None:
        before = member.enroll(1)[1]
    wiped = federation.client(member.secret)  # same key, nothing else kept
    assert wiped.enroll(1)[1] == before
    rotated = wiped.enroll(2)[1]
    assert rotated != before
    for svc in federation.services:
        assert [e.epoch for _, e in share_entries(svc, member.kid)] == [1, 2]


def test_unenrolled_and_revoked_devices_are_refused_and_logged(federation):
    stranger = federation.client()
    federation.hello(stranger)  # known key, pending: the handshake runs, shares do not
    dta = federation.dta_ids[0]
    svc = federation.services[0]
    stranger.trust(dta)
    with pytest.raises(ShareRefused) as refused:
        stranger.request_share(dta, 1)
    assert refused.value.reason == entries.REFUSED_NOT_ENROLLED
    [(_, e)] = share_entries(svc, stranger.kid)
    assert isinstance(e, entries.ShareRefused) and e.reason == entries.REFUSED_NOT_ENROLLED

    member = federation.client()
    federation.hello(member)
    federation.enrol(member)
    member.trust(dta)
    member.request_share(dta, 1)
    svc.revoke(member.kid.hex(), "compromised")
    for epoch in (1, 2):  # nothing, not even the share it was given before
        with pytest.raises(ShareRefused):
            member.request_share(dta, epoch)
    logged = share_entries(svc, member.kid)
    assert [type(e).__name__ for _, e in logged] == ["ShareIssued", "ShareRefused",
                                                     "ShareRefused"]


def test_a_dta_not_born_yet_answers_a_typed_refusal(federation, issuance_broker, tmp_path):
    from tests.fixtures.issuance import Deployment

    d = Deployment(tmp_path, issuance_broker, federation.node)
    try:
        d.add(make_secrets("unborn"))
        c = d.client()
        with pytest.raises(TrustRefused) as refused:
            c.trust(d.dta_ids[0])
        assert refused.value.reason == channel.TRUST_UNBORN
    finally:
        d.close()


@pytest.fixture(scope="module")
def fresh_federation(tmp_path_factory, issuance_broker, regtest_node):
    """Three D-TAs born for this module: a push needs the anchor block within
    receipt_bytes.MAX_HEADERS of the height the device trusts (its provisioned header here),
    and the session's federation was provisioned before every block the other tests mine."""
    d = born_federation(tmp_path_factory.mktemp("fresh-federation"), issuance_broker,
                        regtest_node)
    yield d
    d.close()


def test_anchored_receipts_reach_the_device_at_its_next_session(fresh_federation, regtest_node):
    federation = fresh_federation
    c = federation.client()
    federation.hello(c)
    federation.enrol(c)
    for svc in federation.services:
        c.trust(svc.dta_id)  # tells each D-TA the device's trusted height
        c.request_share(svc.dta_id, 7)
        svc.log.checkpoint()  # what the log's tick does every window
        c.request_share(svc.dta_id, 8)  # its checkpoint is the one anchored: 7's links to it
    for svc in federation.services:
        svc.anchor_round()  # the newest checkpoint goes out
    regtest_node.mine(2)
    for svc in federation.services:
        svc.anchor_round()  # ... and is final
    for svc in federation.services:
        got = [c.issued[(svc.dta_id, e)] for e in (7, 8)]
        assert all(i.anchored_height is None for i in got)
        assert c.connect(svc.dta_id) == "resumed"
        assert c.collect_receipts(svc.dta_id, lambda g=got: all(i.anchored_height for i in g),
                                  timeout=30)
        links = []
        for issued in got:
            r = receipt_bytes.decode(issued.receipt)
            assert r.anchor is not None
            assert r.anchor.checkpoint_height == c.prov.checkpoint_height
            links.append(r.anchor.consistency_note is not None)
            # the same bytes, as a JSON receipt, pass `dta verify` against the node
            v = verify_receipt(to_receipt(issued.receipt, svc.facts),
                               TrustRoot(node=regtest_node.node), k=2, expect_dta_id=svc.dta_id)
            assert v.anchored and v.leaf_index == issued.log_index
            assert v.height == issued.anchored_height
        assert links == [True, False]
        pushed = [e.fields["log_index"] for e in federation.events[
            federation.services.index(svc)].kinds("receipt-pushed")]
        assert pushed[-2:] == [i.log_index for i in got]
    # asked for again, the receipt comes anchored
    dta = federation.dta_ids[1]
    again = c.request_receipt(dta, 7)
    assert receipt_bytes.decode(again.receipt).anchor is not None


def test_the_device_refuses_a_dta_it_has_not_verified(federation):
    c = federation.client(os.urandom(32))
    federation.hello(c)
    dta = federation.dta_ids[2]
    from dtacore import handshake_wire as W

    with pytest.raises(W.UntrustedCredentialError):
        c.connect(dta)  # message_2 names a D-TA the device never checked
    ev = federation.events[2]
    ev.wait_for(lambda evs: any(e.kind == "peer-error" and e.fields["key_id"] == c.kid.hex()
                                and e.fields["error"] == "untrusted-credential" for e in evs))
