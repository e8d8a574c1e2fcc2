"""The handshake's API on the host implementation (dtacore on CPython with dtacore.backend):
roles, credential ids, EAD, error messages, the record layer's window and limits, tickets and
resumption. Byte-exact behaviour is in the vectors (test_handshake_vectors.py)."""

from __future__ import annotations

import hashlib
import os

import coincurve
import pytest

from dtacore import backend, handshake, handshake_responder, resumption, session, tickets
from dtacore import handshake_wire as W
from dtacore.errors import EncodeError


def key(label: bytes):
    secret = hashlib.sha256(b"test handshake " + label).digest()
    return secret, coincurve.PrivateKey(secret).public_key.format(True)


DEV, DTA, OTHER = key(b"device"), key(b"d-ta"), key(b"other")


def kid(pub: bytes) -> bytes:
    return hashlib.sha256(pub).digest()[:8]


def run(i, r):
    m1 = i.start()
    m2 = r.receive(m1)
    m3 = i.receive(m2)
    m4 = r.receive(m3)
    assert i.receive(m4) is None
    return m1, m2, m3, m4


def pair(i_id=b"\x2a", r_id=b"\x00", store=None, i_ead=b"", r_ead=b"", seen=None):
    def lookup_i(cid, ead):
        if seen is not None:
            seen.append(("I", cid, ead))
        return {r_id: DTA[1]}.get(cid)

    def lookup_r(cid, ead):
        if seen is not None:
            seen.append(("R", cid, ead))
        return {i_id: DEV[1]}.get(cid)
    i = handshake.Initiator(DEV[0], DEV[1], i_id, os.urandom, lookup_i, ead=i_ead)
    r = handshake_responder.Responder(DTA[0], DTA[1], r_id, os.urandom, lookup_r, ead=r_ead,
                                      tickets=store)
    return i, r


def test_sessions_talk_both_ways_and_know_their_peer():
    i, r = pair()
    run(i, r)
    assert i.session.peer_cred == DTA[1] and r.session.peer_cred == DEV[1]
    assert i.peer_cred_id == b"\x00" and r.peer_cred_id == b"\x2a"
    assert i.session.confirmed and r.session.confirmed
    assert r.session.open(i.session.seal(b"up")) == b"up"
    assert i.session.open(r.session.seal(b"down")) == b"down"


def test_the_d_ta_can_start_too():
    # roles swapped: the device answers (Responder) and signs message_2
    dev = handshake_responder.Responder(DEV[0], DEV[1], kid(DEV[1]), os.urandom,
                              lambda c, e: DTA[1] if c == b"\x00" else None)
    dta = handshake.Initiator(DTA[0], DTA[1], b"\x00", os.urandom,
                              lambda c, e: DEV[1] if c == kid(DEV[1]) else None)
    sizes = [len(m) for m in run(dta, dev)]
    assert sizes == [35, 108, 75, 10]
    assert dev.session.open(dta.session.seal(b"x")) == b"x"


def test_eight_byte_key_ids_on_both_sides():
    i, r = pair(i_id=kid(DEV[1]), r_id=kid(DTA[1]))
    assert [len(m) for m in run(i, r)] == [35, 108, 83, 10]


def test_lookup_gets_the_ead_and_max_ead_is_enforced():
    seen = []
    i, r = pair(i_ead=b"i" * handshake.MAX_EAD, r_ead=b"r" * 5, seen=seen)
    run(i, r)
    assert ("I", b"\x00", b"r" * 5) in seen and ("R", b"\x2a", b"i" * 128) in seen
    assert i.peer_ead == b"r" * 5 and r.peer_ead == b"i" * 128
    with pytest.raises(EncodeError, match="MAX_EAD"):
        pair(i_ead=b"i" * (handshake.MAX_EAD + 1))


@pytest.mark.parametrize("cid", [b"", b"\xf0", b"\xff", b"1234567", b"123456789"])
def test_credential_ids_must_be_short_or_key_ids(cid):
    with pytest.raises(EncodeError, match="credential id"):
        handshake.Initiator(DEV[0], DEV[1], cid, os.urandom, lambda c, e: None)


def test_id_cred_prefixes():
    assert W.read_cred_id(b"\xef", 0, "x") == (b"\xef", 1)
    assert W.read_cred_id(b"\xf8" + bytes(range(8)), 0, "x") == (bytes(range(8)), 9)
    with pytest.raises(W.MessageDecodeError, match="prefix 0xf0 is reserved"):
        W.read_cred_id(b"\xf0", 0, "PLAINTEXT_2")
    with pytest.raises(W.MessageDecodeError, match="key id truncated"):
        W.read_cred_id(b"\xf8\x01", 0, "PLAINTEXT_2")


def test_errors_name_the_message_and_field():
    i, r = pair()
    m2 = r.receive(i.start())
    with pytest.raises(W.MessageDecodeError, match=r"message_2: 99 bytes, expected 100\.\.236"):
        i.receive(m2[:99])
    with pytest.raises(W.UnsupportedSuiteError, match="cipher suite 0x02"):
        handshake.decode_message_1(b"\x11\x02" + bytes(33))
    with pytest.raises(W.MessageDecodeError, match="message version 2"):
        W.peek(b"\x21")
    with pytest.raises(W.UnexpectedMessageError, match="message_1 while waiting for message_3"):
        r.receive(bytes.fromhex("11e8") + bytes(33))


def test_lookup_may_refuse_a_stale_d_ta_and_must_return_a_key():
    def stale(cid, ead):
        raise W.UntrustedCredentialError("D-TA %s is stale: last checkpoint too old" % cid.hex())
    i = handshake.Initiator(DEV[0], DEV[1], b"\x2a", os.urandom, stale)
    r = handshake_responder.Responder(DTA[0], DTA[1], b"\x00", os.urandom, lambda c, e: DEV[1])
    m2 = r.receive(i.start())
    with pytest.raises(W.UntrustedCredentialError, match="D-TA 00 is stale"):
        i.receive(m2)
    i = handshake.Initiator(DEV[0], DEV[1], b"\x2a", os.urandom, lambda c, e: b"short")
    r = handshake_responder.Responder(DTA[0], DTA[1], b"\x00", os.urandom, lambda c, e: DEV[1])
    with pytest.raises(EncodeError, match="33-byte"):
        i.receive(r.receive(i.start()))


def test_error_reply_reaches_the_peer_as_a_typed_peer_error():
    i, r = pair()
    i.start()
    for exc, code in ((W.BadSignatureError("x"), 5), (W.UnknownCredentialError("x"), 3),
                      (W.MessageDecodeError("x"), 1), (W.UnsupportedSuiteError("x"), 2),
                      (W.TicketRejectedError("x"), 8), (W.ReplayError("x"), 7)):
        r.peer_conn_id = i.conn_id
        reply = r.error_reply(exc)
        assert reply == bytes((0x1F, i.conn_id, code))
        with pytest.raises(W.PeerError, match=W.ERR_NAMES[code]) as info:
            i.receive(reply)
        assert info.value.code == code


def test_start_twice_and_a_bad_ephemeral_draw():
    draws = [bytes(32), backend_secret := hashlib.sha256(b"eph").digest(), b"\x05"]
    stream = b"".join(draws)
    pos = [0]

    def rng(n):
        pos[0] += n
        return stream[pos[0] - n:pos[0]]
    i = handshake.Initiator(DEV[0], DEV[1], b"\x2a", rng, lambda c, e: None)
    m1 = i.start()  # the all-zero secret is not a valid scalar: the next 32 bytes are used
    assert m1[2:34] == backend.pubkey(backend_secret)[1:] and m1[34] == 5
    with pytest.raises(W.UnexpectedMessageError, match="started already"):
        i.start()


def test_retransmission_and_duplicates():
    i, r = pair()
    m1 = i.start()
    assert i.retransmit() == m1
    m2 = r.receive(m1)
    assert r.receive(m1) == m2 and r.duplicates == 1
    m3 = i.receive(m2)
    assert i.receive(m2) == m3 and i.retransmit() == m3
    m4 = r.receive(m3)
    assert r.receive(m3) == m4  # a lost message_4: the retransmitted message_3 gets it again
    assert i.receive(m4) is None and i.receive(m4) is None
    with pytest.raises(W.UnexpectedMessageError):
        r.receive(m1)  # not the last message received: out of order


def test_ticket_issued_once_and_bounded():
    clock = [1000]
    store = tickets.TicketStore(lambda: clock[0], lifetime=60, max_uses=2)
    i, r = pair(store=store)
    m1, m2, m3, m4 = run(i, r)
    assert r.receive(m3) == m4 and len(store.entries) == 1  # the duplicate issues nothing new
    t = i.ticket
    assert (t.use, t.max_uses, t.lifetime) == (0, 2, 60)
    for _ in range(2):
        ri = resumption.ResumeInitiator(t, os.urandom)
        ri.receive(tickets.ResumeResponder(store, os.urandom).receive(ri.start()))
    with pytest.raises(W.TicketRejectedError, match="used 2 of 2 times"):
        resumption.ResumeInitiator(t, os.urandom).start()
    store.prune()
    assert not store.entries
    with pytest.raises(EncodeError):
        tickets.TicketStore(time, lifetime=resumption.MAX_LIFETIME + 1)
    with pytest.raises(EncodeError):
        tickets.TicketStore(time, max_uses=256)


def time():
    return 0


def test_ticket_expires_in_the_responders_clock():
    clock = [1000]
    store = tickets.TicketStore(lambda: clock[0], lifetime=60)
    i, r = pair(store=store)
    run(i, r)
    clock[0] = 1059
    ri = resumption.ResumeInitiator(i.ticket, os.urandom)
    ri.receive(tickets.ResumeResponder(store, os.urandom).receive(ri.start()))
    clock[0] = 1060
    with pytest.raises(W.TicketRejectedError, match="expired 0 s ago"):
        tickets.ResumeResponder(store, os.urandom).receive(
            resumption.ResumeInitiator(i.ticket, os.urandom).start())


def test_lost_resume_messages_do_not_desynchronise_the_ratchet():
    store = tickets.TicketStore(lambda: 0)
    i, r = pair(store=store)
    run(i, r)
    t = i.ticket
    lost = resumption.ResumeInitiator(t, os.urandom).start()  # resume_1 lost: use 1 is spent
    assert t.use == 1 and resumption.decode_resume_1(lost)[2] == 1
    ri = resumption.ResumeInitiator(t, os.urandom)
    r1 = ri.start()  # use 2: the responder ratchets two steps
    rr = tickets.ResumeResponder(store, os.urandom)
    r2 = rr.receive(r1)
    assert rr.receive(r1) == r2  # resume_2 lost, resume_1 retransmitted: the cached answer
    ri.receive(r2)
    assert store.entries[t.ticket_id].secret == t.secret
    assert rr.session.open(ri.session.seal(b"z")) == b"z"
    with pytest.raises(W.ReplayError, match="use 1 of ticket"):
        tickets.ResumeResponder(store, os.urandom).receive(lost)  # too late now


def test_resumption_uses_no_public_key_operation(monkeypatch):
    store = tickets.TicketStore(lambda: 0)
    i, r = pair(store=store)
    run(i, r)

    def forbidden(*args):
        raise AssertionError("public-key operation during resumption")
    for name in ("pubkey", "sign", "verify", "shared_x", "prepare"):
        monkeypatch.setattr(backend, name, forbidden)
    ri = resumption.ResumeInitiator(i.ticket, os.urandom, lookup=lambda c, e: DTA[1])
    rr = tickets.ResumeResponder(store, os.urandom)
    ri.receive(rr.receive(ri.start()))
    assert rr.session.open(ri.session.seal(b"no ECDH")) == b"no ECDH"


def test_resumption_refuses_a_peer_whose_key_changed():
    store = tickets.TicketStore(lambda: 0)
    i, r = pair(store=store)
    run(i, r)
    ri = resumption.ResumeInitiator(i.ticket, os.urandom, lookup=lambda c, e: OTHER[1])
    with pytest.raises(W.UntrustedCredentialError, match="not trusted with this key"):
        ri.start()
    assert i.ticket.use == 0  # refused before the ticket advanced


def test_ticket_storage_round_trip_and_strictness():
    t = resumption.Ticket(b"T" * 8, 3, b"s" * 32, 96, 86400, 12345, DTA[1], b"\x00")
    enc = t.encode()
    assert len(enc) == 85
    back = resumption.decode_ticket(enc)
    assert back.encode() == enc and back.peer_cred_id == b"\x00"
    t8 = resumption.Ticket(b"T" * 8, 0, b"s" * 32, 1, 60, 0, DTA[1], kid(DTA[1]))
    assert len(t8.encode()) == 93
    for bad, why in ((enc[:-1], "84 bytes"), (enc + b"\x00", "86 bytes"),
                     (b"\x02" + enc[1:], "format 2"), (enc[:9] + b"\x61" + enc[10:], "use 97"),
                     (enc[:51] + b"\x04" + enc[52:], "compressed")):
        with pytest.raises(W.MessageDecodeError, match=why):
            resumption.decode_ticket(bad)


def established():
    i, r = pair()
    run(i, r)
    return i.session, r.session


def test_records_out_of_order_within_the_window():
    a, b = established()
    recs = [a.seal(bytes((n,))) for n in range(70)]
    assert b.open(recs[69]) == b"\x45"
    assert b.open(recs[69 - 63]) == bytes((6,))  # the oldest one the window still holds
    with pytest.raises(W.ReplayError, match="older than the replay window"):
        b.open(recs[69 - 64])
    with pytest.raises(W.ReplayError, match="received already"):
        b.open(recs[6])
    assert b.open(recs[30]) == bytes((30,))


def test_forged_records_change_nothing_and_are_bounded(monkeypatch):
    a, b = established()
    rec = a.seal(b"real")
    forged = rec[:6] + bytes(len(rec) - 6)
    with pytest.raises(W.BadTagError, match="record 0"):
        b.open(forged)
    assert b.open(rec) == b"real"  # the forgery did not mark SEQ 0 as seen
    monkeypatch.setattr(session, "MAX_BAD_RECORDS", 3)  # one refused above, two below
    forged1 = a.seal(b"x")
    forged1 = forged1[:-1] + bytes((forged1[-1] ^ 1,))
    for _ in range(2):
        with pytest.raises(W.BadTagError):
            b.open(forged1)
    with pytest.raises(W.AbortedError, match="failed authentication"):
        b.open(forged1)


def test_record_limits():
    a, b = established()
    assert b.open(a.seal(b"p" * session.MAX_PLAINTEXT)) == b"p" * session.MAX_PLAINTEXT
    assert len(a.seal(b"p" * session.MAX_PLAINTEXT)) == session.MAX_RECORD
    with pytest.raises(EncodeError, match="MAX_PLAINTEXT"):
        a.seal(b"p" * (session.MAX_PLAINTEXT + 1))
    a.next_seq = session.MAX_SEQ
    last = a.seal(b"last")
    assert b.open(last) == b"last"
    with pytest.raises(W.AbortedError, match="sequence numbers"):
        a.seal(b"one more")


def test_unload_is_a_no_op_on_the_host():
    import sys
    before = set(sys.modules)
    i = handshake.Initiator(DEV[0], DEV[1], b"\x2a", os.urandom, lambda c, e: DTA[1], unload=True)
    r = handshake_responder.Responder(DTA[0], DTA[1], b"\x00", os.urandom, lambda c, e: DEV[1],
                                      unload=True)
    run(i, r)
    assert before <= set(sys.modules)
    assert not i._unload and backend.NAME == "cpython"
