# A D-TA's birth, checked by the device itself (docs/channel.md, 1): a TRUST_REQUEST from the
# header the device trusts, the trust bundle's parts fed to dtacore.trust.BirthCheck as they
# come (Birth Record, its transaction, the proof, k+1 headers and more), the D-TA and the tip
# kept in the trust store. Loaded for a D-TA whose birth the device has not verified yet
# (dtanode.dtapeer.DtaPeer.verify_birth) and unloaded after it, with the SPV code it used.

import time

from dtacore import channel
from dtacore.errors import DecodeError
from dtacore.wire import _hex
from dtanode.errors import PeerFailure
from dtanode.stages import unload

TRUST_MODULES = ("dtacore.trust", "dtacore.spv", "dtacore.birth", "dtacore.anchor",
                 "dtacore.bitcoin", "dtacore.receipt", "dtacore.network", "dtacore.merkle")


def verify(peer):
    # -> True when trusted; False when the bundle was refused (reported).
    store = peer.agent.trust
    tried = [store.tip]
    if store.tip[0] != store.checkpoint[0]:
        tried.append(store.checkpoint)  # a D-TA born before our tip links from the root
    for height, header in tried:
        link = _bundle(peer, height, header)
        if link is None:
            return True
    peer.agent.report_trust(peer.dta8, link)
    return False


def _bundle(peer, height, header):
    # One TRUST_REQUEST and its bundle, parts fed as they come. -> None when accepted, else
    # the name of the failing link.
    from dtacore import network, trust
    from dtacore.receipt import LinkError
    agent = peer.agent
    check = trust.BirthCheck(peer.dta_id, network.by_name(agent.trust.network),
                             agent.trust.k, header, height)
    agent.to_dta(peer.dta8, channel.trust_request(height))
    peer.trust_us = 0
    try:
        while not check.done:
            part = _expect(peer, "trust bundle")
            if part[0] == channel.TRUST_REFUSED:
                _refused(peer, channel.decode_trust_refused(part))
            t0 = time.ticks_us()
            check.feed(memoryview(part)[1:])
            peer.trust_us += time.ticks_diff(time.ticks_us(), t0)
        t0 = time.ticks_us()
        verified = check.result()
        peer.trust_us += time.ticks_diff(time.ticks_us(), t0)
    except LinkError as e:
        agent.say("trust-refused", dta=_hex(peer.dta8), link=repr(e.link),
                  detail=repr(e.reason))
        return e.link
    except DecodeError as e:
        agent.say("trust-refused", dta=_hex(peer.dta8), link="'bundle'", detail=repr(str(e)))
        return "bundle"
    finally:
        check = None
        unload(*TRUST_MODULES)
    agent.trust.accept(peer.index, verified)
    agent.clock.learn(agent.trust.verified_time())
    agent.say("trusted", dta=_hex(peer.dta8), birth=verified.birth_height,
              tip=verified.tip_height, cpu_us=peer.trust_us)
    agent.report_trust(peer.dta8, None)
    return None


def _refused(peer, reason):
    # The D-TA answered with no bundle. Not born yet or no node: a failure to retry later
    # (backoff); the others (our height unknown to it, too far behind) are its verdict on
    # this request and end it like a refused bundle.
    if reason in (channel.TRUST_UNBORN, channel.TRUST_NO_NODE):
        raise PeerFailure("silent", "D-TA %s cannot send its bundle yet (reason %d)"
                          % (_hex(peer.dta8), reason))
    raise DecodeError("the D-TA refused the trust request (reason %d)" % reason)


def _expect(peer, what):
    # The next bundle part (or refusal) from this D-TA within the reply timeout (other payloads
    # are ignored: a stale duplicate, a part of an abandoned bundle).
    wait = peer.agent.cfg["reply_timeout_ms"] * 4
    while True:
        p = peer.agent.await_dta(peer.dta8, wait)
        if p is None:
            raise PeerFailure("silent", "D-TA %s sent no %s" % (_hex(peer.dta8), what))
        if p[0] == channel.TRUST_PART or p[0] == channel.TRUST_REFUSED:
            return p
