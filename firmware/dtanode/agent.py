# The agent's main loop (issue 15): it never exits. Each turn feeds the watchdog (the only place
# that does), then runs one step: connect if there is no link, send the hello once per boot,
# sign and send the outbox, check and meet the D-TAs (trust, session, shares), run the
# application's hook, listen. A step that fails is reported and retried after an exponential
# backoff with jitter, capped; after cfg["failures_before_action"] failures in a row the agent
# resets or deep-sleeps (the next boot report says which). With sleep_period_s the agent runs a
# duty cycle instead: wake, resume each session with its ticket, send the outbox, take what the
# D-TAs pushed, sleep. `once` (tests, bench) runs one pass and returns an exit code.

import gc

from dtacore import wire
from dtanode import guard as G
from dtanode.report import say
from dtanode.stages import unload

EXIT_NETWORK = 5
# Longest single wait of the main loop between two feeds of the watchdog, ms.
TURN_MS = 1000
APP_HOOK = "dtanode_app"  # optional module: step(emit) is called once per awake pass


class Agent:
    def __init__(self, board, brd, cfg, boot, guard, ident):
        self.board, self.brd, self.cfg, self.boot, self.guard = board, brd, cfg, boot, guard
        self.root = cfg["storage"]
        self.secret, self.pubkey, self.kid, self.hello, self.source = ident
        self.rng = self.source.raw
        self.link = None
        self.hello_sent = False
        self.sent_upto = -1  # the last outbox id sent on this link
        self.failures = 0
        self.last_step = "none"
        self.pushes = []  # (dta8, payload) from a D-TA no step is waiting for
        self.peers = {}  # dta8 -> (DtaPeer, shareflow.Flow) met this boot
        self.round_done = False
        self.d2d_done = []  # the devices this boot has run a handshake with
        self.responders = None
        self.cpu_us = 0  # compute spent on what the D-TAs sent in sessions (shareflow)
        self.backoff = G.Backoff(cfg["backoff_base_ms"], cfg["backoff_cap_ms"])
        from dtanode.clock import Clock
        self.clock = Clock()
        self.trust = self.outbox = self.events = None
        if "dta_ids" in cfg:
            # Events need a D-TA: the gateway's acks are signed by one the device verified, so
            # a device provisioned without D-TAs says hello and keeps no outbox.
            from dtanode.events import Events
            from dtanode.outbox import Outbox
            from dtanode.truststore import TrustStore
            self.outbox = Outbox(self.root, cfg["outbox_size"])
            self.events = Events(self.outbox, self.kid, self.pubkey, cfg["event_rate"],
                                 board.ticks_ms)
            self.trust = TrustStore(self.root, cfg)
            self.clock.learn(self.trust.verified_time())
        self.say = say

    # -- the loop ------------------------------------------------------------------------------

    def run(self):
        while True:
            self.board.feed()
            try:
                done = self.step()
            except OSError as e:  # a socket or a file the step used
                done = self.failed(getattr(e, "step", "link"), e)
            except Exception as e:  # noqa: BLE001 - a protocol failure of one step
                done = self.failed(getattr(e, "step", "refused"), e)
            if done is not None:
                return done

    def step(self):
        # -> None to go on, or the exit code of a `once` run.
        if self.link is None:
            self.connect()
        if not self.hello_sent:
            self.link.send(wire.hello_topic(self.cfg["topic_prefix"], self.kid), self.hello)
            self.hello_sent = True
            say("hello", key_id=wire._hex(self.kid), boot=self.boot, bytes=len(self.hello))
            if not self.cfg["sleep_period_s"]:
                self.guard.mark_good(self.boot)
        self.flush()
        if self.trust is not None and not self.round_done:
            self.dta_round()
            self.d2d_round()
        self.app_hook()
        self.flush()
        self.recovered()
        if self.cfg["once"] or self.cfg["sleep_period_s"]:
            self.linger()
            gc.collect()
            say("memory", free=gc.mem_free(), used=gc.mem_alloc())
            if self.cfg["once"]:
                self.link.close()
                return 0
            self.sleep(G.CYCLE, "none", self.cfg["sleep_period_s"] * 1000)
        self.keep_alive()
        self.listen(TURN_MS)
        return None

    def keep_alive(self):
        # MQTT keepalive for a device that stays awake: a PINGREQ every half period (umqtt sends
        # none by itself, and the broker drops a client silent for 1.5 periods).
        import time
        half = self.cfg["keepalive"] * 500 if self.cfg["transport"] == "mqtt" else 0
        now = self.board.ticks_ms()
        if half and time.ticks_diff(now, self.pinged_at) >= half:
            self.link.ping()
            self.pinged_at = now
            say("keepalive", period_s=self.cfg["keepalive"])

    def connect(self):
        from dtanode import transport
        self.link = transport.open_transport(self.brd, self.cfg, self.kid)
        self.sent_upto = -1
        self.pinged_at = self.board.ticks_ms()
        say("network", link=repr(self.link.describe))

    def failed(self, step, e):
        self.last_step = step if step in G.REASONS else "refused"
        self.failures += 1
        if self.link is not None:
            self.link.close()
            self.link = None
        # sessions are met again after a failure (tickets make it cheap), a share cut short too
        self.round_done = False
        self.peers.clear()
        say("failure", step=step, failures=self.failures, detail=repr(str(e)[:80]))
        if self.cfg["once"]:
            say("offline", reason=repr(str(e)))
            return EXIT_NETWORK
        if self.failures >= self.cfg["failures_before_action"]:
            self.give_up()
        delay = self.backoff.next()
        say("retry", attempt=self.backoff.attempt, delay_ms=delay, step=step)
        self.wait(delay)
        return None

    def give_up(self):
        action = self.cfg["failure_action"]
        say("give-up", action=action, failures=self.failures, step=self.last_step)
        if action == "reset":
            self.guard.record_exit(self.boot, G.RESET, self.last_step, self.failures,
                                   self.hello_sent)
            self.board.reset()
        self.sleep(G.DEEPSLEEP, self.last_step, self.cfg["failure_sleep_s"] * 1000)

    def sleep(self, action, reason, ms):
        self.guard.record_exit(self.boot, action, reason, self.failures,
                               self.hello_sent or action == G.CYCLE)
        if self.link is not None:
            self.link.close()
        from dtanode import records, transport
        say("sleep", ms=ms, action=G.ACTIONS[action], writes=records.writes,
            sent=transport.WIRE[0], received=transport.WIRE[1])
        self.board.deep_sleep(ms)

    def wait(self, ms):
        # Part of the main loop: it feeds the watchdog between slices.
        while ms > 0:
            self.board.sleep_ms(min(ms, TURN_MS))
            ms -= TURN_MS
            self.board.feed()

    def recovered(self):
        if self.failures:
            self.report("recovered after %d failures (last: %s)" % (self.failures,
                                                                   self.last_step))
            self.failures = 0
            self.backoff.reset()
            self.flush()

    # -- events --------------------------------------------------------------------------------

    def report(self, text):
        from dtacore import channel
        if self.events is not None:
            self.events.emit(channel.EVENT_REPORT, text.encode()[:200])

    def report_trust(self, dta8, link):
        from dtacore import channel
        from dtacore.receipt import LINKS
        failed = 0 if link is None else (LINKS.index(link) + 1 if link in LINKS else 0xFF)
        self.events.emit(channel.EVENT_TRUST, dta8 + bytes((failed,)))

    def flush(self):
        # Sign what is queued (one outbox write), then send what this link has not carried.
        from dtacore import channel
        if self.events is None:
            return
        if self.events.pending:
            self.events.seal(self.secret, self.rng)
            unload("dtacore.ecdsa", "dtacore.fixedbase", "dtacore.ecmult", "dtacore.gtable",
                   "dtacore.gtable_comb", "dtacore.secp256k1", "dtacore.entries")
        topic = channel.event_topic(self.cfg["topic_prefix"], self.kid)
        ids = [i for i in self.outbox.ids if i > self.sent_upto]
        if not ids:
            return
        for frame in self.outbox.frames():
            i = int.from_bytes(frame[14:18], "big")
            if i > self.sent_upto:
                self.link.send(topic, frame)
                self.sent_upto = i
        say("events-sent", count=len(ids), waiting=len(self.outbox.ids),
            dropped=self.outbox.dropped)

    def linger(self):
        # Before a `once` exit or a sleep: wait for acks (and pushes) a little.
        wait = self.cfg["reply_timeout_ms"] * 2
        while wait > 0 and self.outbox is not None and self.outbox.ids:
            self.listen(min(wait, 200))
            wait -= 200

    # -- frames --------------------------------------------------------------------------------

    def to_dta(self, dta8, payload):
        from dtacore import channel
        frame = channel.encode(channel.TYPE_TO_DTA, dta8, self.kid, payload)
        self.link.send(channel.topic_to_dta(self.cfg["topic_prefix"], dta8, self.kid), frame)

    def listen(self, ms):
        # Take one incoming frame within ms: acks, pushes to a session met this boot.
        got = self.await_dta(None, ms)
        if got is not None:
            self.pushed(got)
        while self.pushes:
            self.pushed(self.pushes.pop(0))

    def pushed(self, item):
        dta8, payload = item
        met = self.peers.get(dta8)
        if met is None and self.trust is not None and not [
                i for i in self.trust.ids if i[:8] == dta8]:
            self.device_frame(dta8, payload)  # from another device: dta8 is its key id
            return
        if met is None or payload[0] != 0x17:
            return
        try:
            message = met[0].session.open(payload)
        except Exception:  # noqa: BLE001 - a replayed or stale record changes nothing
            return
        met[1].handle(message)
        self.flush()

    def await_dta(self, dta8, ms):
        # -> the payload of the next TO_DEVICE frame from dta8 (any D-TA for None) within ms;
        # acks are taken on the way, frames from other D-TAs kept for listen().
        t0 = self.board.ticks_ms()
        import time
        while True:
            left = ms - time.ticks_diff(self.board.ticks_ms(), t0)
            if left <= 0:
                return None
            got = self.link.poll(min(left, TURN_MS))
            if got is None:
                continue
            item = self.frame_in(got[0], got[1])
            if item is None:
                continue
            if dta8 is None or item[0] == dta8:
                return item if dta8 is None else item[1]
            if len(self.pushes) < 8:
                self.pushes.append(item)

    def frame_in(self, topic, frame):
        # -> (dta8, payload) for a TO_DEVICE frame for this device, after the ack handling.
        from dtacore import channel
        try:
            ftype = wire.parse_header(frame)[0]
            if ftype == channel.TYPE_EVENT_ACK:
                if self.events is None:
                    return None
                upto = self.events.on_ack(frame, self.trust.key_of)
                if upto is not None:
                    say("ack", upto=upto, waiting=len(self.outbox.ids))
                return None
            _, dta8, device, payload = channel.decode(frame)
        except Exception:  # noqa: BLE001 - a malformed frame from the broker is dropped
            return None
        if device != self.kid or (topic is not None and
                                  not bytes(topic).endswith(wire._hex(dta8).encode())):
            return None  # topic-mismatch: the ids in the frame are not the topic's
        return dta8, payload

    # -- D-TAs and the application -------------------------------------------------------------

    def dta_round(self):
        from dtacore import channel
        from dtanode import shareflow
        from dtanode.dtapeer import DtaPeer
        for index, dta_id in enumerate(self.trust.ids):
            if dta_id[:8] in self.peers:
                continue
            peer = DtaPeer(self, index)
            if not peer.verify_birth():
                continue
            gc.collect()
            peer.open_session()
            say("handshake", dta=wire._hex(peer.dta8), resumed=peer.resumed,
                cpu_us=peer.cpu_us, load_us=peer.load_us, ec_ops=peer.ec_ops)
            self.events.emit(channel.EVENT_HANDSHAKE, peer.dta8 + bytes((int(peer.resumed),)))
            flow = shareflow.Flow(self, peer)
            self.peers[peer.dta8] = (peer, flow)
            flow.start()
            quiet = self.cfg["reply_timeout_ms"]
            while True:
                message = peer.receive(quiet)
                if message is None:
                    break
                flow.handle(message)
            self.flush()
        self.round_done = True

    def d2d_round(self):
        # A handshake with each device in cfg["d2d_peers"], once per boot.
        from binascii import unhexlify
        for peer in self.cfg.get("d2d_peers", ()):
            kid = unhexlify(peer)
            if kid in self.d2d_done:
                continue
            self.d2d_done.append(kid)
            from dtanode import d2d
            d2d.start(self, kid)
            self.flush()

    def device_frame(self, kid, payload):
        if self.responders is None:
            from dtanode import d2d
            self.responders = d2d.Responders(self)
        self.responders.take(kid, payload)

    def app_hook(self):
        try:
            hook = __import__(APP_HOOK)
        except ImportError:
            return
        from dtanode import events
        hook.step(events.emit)
