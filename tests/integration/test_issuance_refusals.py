"""Every negative case is answered with a typed error message and changes nothing: an unknown
key id, a bad signature, a replayed message_3, tampered and replayed records, a frame whose ids
are not its topic's. A QoS 1 redelivery of a share request (the same frame again) and a device
retry (a new record) each leave one ShareIssued entry. Over the real mosquitto, with D-TAs
born on the real regtest node (the session's federation)."""

import os
import queue

import pytest

from dta.issuance import PeerRefused
from dtacore import channel, entries
from dtacore import handshake_wire as W
from dtacore.handshake import Initiator

WAIT = 10.0


def state(svc) -> tuple:
    """What a refused message must not change: the log, the registry, the tickets."""
    return svc.log.store.size, len(svc.registry.devices()), len(svc.tickets.entries)


# Answers the D-TA sends again when a retransmitted handshake message reaches it (a loaded
# machine outlives the client's retransmission timer): late, not the answer a test waits for.
LATE = (W.MSG_2, W.MSG_4, W.RESUME_2)


def next_payload(client, dta_id: bytes, kind: int = W.ERROR) -> bytes:
    """The D-TA's next answer of this kind, skipping late duplicates of handshake answers."""
    while True:
        try:
            payload = client.link.inbox(dta_id[:8]).get(timeout=WAIT)
        except queue.Empty:
            raise AssertionError("the D-TA did not answer") from None
        if payload[0] == kind or payload[0] not in LATE:
            return payload


def shares_logged(svc, kid: bytes, epoch: int) -> list[int]:
    store, out = svc.log.store, []
    for i in range(store.size):
        e = entries.decode(store.entry(i))
        if isinstance(e, entries.ShareIssued) and (e.subject, e.epoch) == (kid, epoch):
            out.append(i)
    return out


def error_code(payload: bytes) -> int:
    assert payload[0] == W.ERROR, payload.hex()
    return W.decode_error(payload)[1]


@pytest.fixture(scope="module")
def member(federation):
    # a retransmission timer no loaded machine outlives: these tests count the D-TA's answers
    c = federation.client(timeout=WAIT)
    federation.hello(c)
    federation.enrol(c)
    for dta in federation.dta_ids:
        c.trust(dta)
    return c


def test_an_unknown_key_id_is_refused(federation):
    c = federation.client(os.urandom(32))  # no hello: no D-TA knows this key
    dta, svc = federation.dta_ids[0], federation.services[0]
    c.trust(dta)
    before = state(svc)
    with pytest.raises(PeerRefused) as refused:
        c.connect(dta)
    assert refused.value.code == W.UnknownCredentialError.code == 3
    assert state(svc) == before and svc.registry.get(c.kid.hex()) is None


def test_a_bad_signature_is_refused_and_the_genuine_device_still_connects(federation, member):
    dta, svc = federation.dta_ids[0], federation.services[0]
    before = state(svc)
    # message_3 claims the member's key id and key, and is signed with another key
    forged = Initiator(os.urandom(32), member.pubkey, member.kid, os.urandom,
                       member._lookup_for(dta))
    with pytest.raises(PeerRefused) as refused:
        member._run(dta, forged)
    assert refused.value.code == W.BadSignatureError.code == 5
    assert state(svc) == before
    assert member.connect(dta, resume=False) == "full"


def _last_sent(client, kind: int) -> tuple[str, bytes]:
    for topic, frame in reversed(client.link.sent):
        if channel.decode(frame)[3][0] == kind:
            return topic, frame
    raise AssertionError(f"no message 0x{kind:02x} was sent")


def test_a_replayed_message_3_is_refused(federation, member):
    dta, svc = federation.dta_ids[1], federation.services[1]
    member.connect(dta, resume=False)
    topic, old_m3 = _last_sent(member, W.MSG_3)
    # an exact duplicate of the last message_3 gets the same message_4, and nothing else
    member.link.publish(topic, old_m3)
    first_m4 = next_payload(member, dta, W.MSG_4)
    assert first_m4[0] == W.MSG_4
    # replayed into a new handshake, it is refused; the new handshake goes on
    party = Initiator(member.secret, member.pubkey, member.kid, os.urandom,
                      member._lookup_for(dta))
    member.link.send(dta[:8], party.start())
    m2 = next_payload(member, dta, W.MSG_2)
    before = state(svc)
    member.link.publish(topic, old_m3)
    assert error_code(next_payload(member, dta)) in (W.UnexpectedMessageError.code,
                                                     W.BadTagError.code)
    assert state(svc) == before
    member.link.send(dta[:8], party.receive(m2))
    assert party.receive(next_payload(member, dta, W.MSG_4)) is None
    assert party.session.confirmed and party.ticket is not None


def test_tampered_and_replayed_records_are_refused(federation, member):
    dta, svc = federation.dta_ids[2], federation.services[2]
    member.connect(dta)
    s = member.session(dta)
    record = s.seal(channel.share_request(11))
    before = state(svc)
    for i in (2, 7, len(record) - 1):  # the sequence number, the ciphertext, the tag
        bad = bytearray(record)
        bad[i] ^= 0x01
        member.link.send(dta[:8], bytes(bad))
        assert error_code(next_payload(member, dta)) in (W.BadTagError.code,
                                                         W.ReplayError.code)
    assert state(svc) == before
    member.link.send(dta[:8], record)  # the genuine one is still taken
    issued = member.await_share(dta, 11)
    assert svc.log.store.size == before[0] + 1
    assert shares_logged(svc, member.kid, 11) == [issued.log_index]


def test_a_redelivery_and_a_retry_give_one_entry(federation, member):
    dta, svc = federation.dta_ids[0], federation.services[0]
    member.connect(dta)
    record = member.send_message(dta, channel.share_request(12))
    first = member.await_share(dta, 12)
    topic, frame = _last_sent(member, W.RECORD)
    assert channel.decode(frame)[3] == record
    size = svc.log.store.size
    member.link.publish(topic, frame)  # QoS 1 redelivery: the very same frame
    assert error_code(next_payload(member, dta)) == W.ReplayError.code
    retried = member.request_share(dta, 12)  # the device asks again, in a new record
    assert (retried.share, retried.log_index) == (first.share, first.log_index)
    assert svc.log.store.size == size
    assert shares_logged(svc, member.kid, 12) == [first.log_index]


def test_a_frame_not_matching_its_topic_is_answered(federation, member):
    dta = federation.dta_ids[0]
    other = os.urandom(8)
    frame = channel.encode(channel.TYPE_TO_DTA, dta[:8], other, channel.trust_request(1))
    member.link.publish(channel.topic_to_dta(federation.prefix, dta[:8], member.kid), frame)
    assert error_code(next_payload(member, dta)) == W.MessageDecodeError.code
    member.link.send(dta[:8], b"\x42junk")  # neither a handshake message nor a trust request
    assert error_code(next_payload(member, dta)) == W.MessageDecodeError.code
