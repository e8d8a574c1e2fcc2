# Device to device (docs/channel.md, 4): two devices run the same handshake as with a D-TA, each
# presenting its key id and, as EAD, its key with a voucher from a D-TA of the federation
# (dtacore.voucher). A device takes the other's key only when the voucher is signed by a D-TA
# it has verified itself (dtanode.truststore) and has not expired by its verified time
# (dtanode.clock); a key without such a voucher is refused (UntrustedCredentialError).
#
# Frames: TO_DEVICE with dta8 = the sender's key id, on <p>/d2d/<to kid>/<from kid>. The agent
# starts a handshake with each key id in cfg["d2d_peers"] once per boot and answers any device
# that starts one with it.

from dtacore import channel
from dtacore.errors import DecodeError, ProtocolError, VerifyError
from dtacore.wire import _hex
from dtanode import records
from dtanode.stages import unload

D2D_MODULES = ("dtacore.handshake", "dtacore.handshake_responder", "dtacore.exchange",
               "dtacore.voucher", "dtacore.ecdsa", "dtacore.ecverify", "dtacore.ecdh",
               "dtacore.fixedbase", "dtacore.ecmult", "dtacore.gtable", "dtacore.gtable_comb",
               "dtacore.gtable_wnaf", "dtacore.secp256k1", "dtacore.der")


def my_ead(agent):
    # -> our key and the first voucher we hold (EAD), or None without a voucher.
    from dtacore import voucher
    for i in range(len(agent.trust.ids)):
        try:
            v = records.load(agent.root + "/vc%d.bin" % i, b"DTVC")
        except (records.Missing, DecodeError):
            continue
        return voucher.ead(agent.pubkey, v)
    return None


def lookup_for(agent):
    def lookup(cred_id, ead):
        from dtacore import handshake_wire as W
        from dtacore import voucher
        if len(cred_id) != 8:
            return None
        try:
            return voucher.check(ead, cred_id, _dtas(agent), agent.clock.now())
        except (DecodeError, VerifyError) as e:
            raise W.UntrustedCredentialError("device %s: %s" % (_hex(cred_id), e)) from None
    return lookup


def _dtas(agent):
    def dtas(dta8):
        known = agent.trust.by_dta8(bytes(dta8))
        return None if known is None else (known[1], known[2])
    return dtas


def send(agent, to_kid, payload):
    frame = channel.encode(channel.TYPE_TO_DEVICE, agent.kid, to_kid, payload)
    agent.link.send(channel.d2d_topic(agent.cfg["topic_prefix"], to_kid, agent.kid), frame)


def start(agent, peer_kid):
    # One handshake with another device as initiator; -> True when its key is verified.
    from dtacore import handshake
    from dtacore import handshake_wire as W
    ead = my_ead(agent)
    if ead is None:
        agent.say("d2d", peer=_hex(peer_kid), role="initiator", verified=False,
                  reason="'no voucher yet'")
        return False
    i = handshake.Initiator(agent.secret, agent.pubkey, agent.kid, agent.rng,
                            lookup_for(agent), ead=ead, unload=True)
    try:
        send(agent, peer_kid, i.start())
        wait = agent.cfg["reply_timeout_ms"] * 4  # the peer is a device: it needs its time
        while i.session is None or not i.session.confirmed:
            p = agent.await_dta(peer_kid, wait)
            if p is None:
                p = i.retransmit()
                send(agent, peer_kid, p)
                wait *= 2
                continue
            out = i.receive(p)
            if out is not None:
                send(agent, peer_kid, out)
        agent.say("d2d", peer=_hex(peer_kid), role="initiator", verified=True)
        return True
    except ProtocolError as e:
        if isinstance(e, (W.UntrustedCredentialError, W.PeerError, W.AbortedError)):
            agent.say("d2d", peer=_hex(peer_kid), role="initiator", verified=False,
                      reason=repr(str(e)[:80]))
            return False
        raise
    finally:
        i = None
        unload(*D2D_MODULES)


class Responders:
    # The handshakes other devices started with this one, by their key id.
    def __init__(self, agent):
        self.agent = agent
        self.parties = {}

    def take(self, from_kid, payload):
        from dtacore import handshake_wire as W
        from dtacore.handshake_responder import Responder
        a = self.agent
        if payload[0] == W.MSG_1:
            ead = my_ead(a)
            if ead is None:
                return
            self.parties[from_kid] = Responder(a.secret, a.pubkey, a.kid, a.rng,
                                               lookup_for(a), ead=ead, unload=True)
        r = self.parties.get(from_kid)
        if r is None:
            return
        try:
            out = r.receive(payload)
        except ProtocolError as e:
            a.say("d2d", peer=_hex(from_kid), role="responder", verified=False,
                  reason=repr(str(e)[:80]))
            send(a, from_kid, r.error_reply(e))
            del self.parties[from_kid]
            return
        if out is not None:
            send(a, from_kid, out)
        if r.session is not None and r.session.confirmed:
            a.say("d2d", peer=_hex(from_kid), role="responder", verified=True)
            del self.parties[from_kid]
            unload(*D2D_MODULES)
