"""The gateway's MQTT side: one persistent session per D-TA gateway, and knowing when it is lost.

The client id is derived from the D-TA id and the gateway's instance name
(`dta-<first 16 hex digits of the D-TA id>-<instance>`, unless mqtt.client_id names one), so
two D-TAs on one broker never share a session. The session is persistent (clean session off,
QoS 1), so hellos sent while the gateway restarts wait for it on the broker.

Two processes with one client id take the session from each other on every reconnect and split
the fleet between them without a word (mosquitto just closes the older connection). So each
gateway publishes a claim, retained, on `<prefix>/gateway/<client id>/claim` once it is
subscribed: a random nonce, its PID and host. The broker delivers the claims of that topic in
order; a claim other than our own arriving after our own means a newer process uses this session:
the gateway logs it at CRITICAL and gives up the session for good (`on_fatal(SessionLost)`; `dta
gateway run` then exits with its own code). An ordinary loss of the connection (a broker
restart) is logged and re-acquired: paho reconnects with back-off and the session resumes.

With device events on (a gateway with a log) it also subscribes to `<prefix>/event/+` and
answers on `<prefix>/ack/<kid>`. Frames are acknowledged to the broker by hand (paho's
manual_ack): a hello once handled, an event once the log holds it (dta.gateway.events), so
what a gateway had not finished when it died is delivered again, in order, to the next one.
For the devices on its serial lines (dta.gateway.serial_link) it publishes their channel
frames and hellos and subscribes to `<prefix>/dev/<kid>/+` and `<prefix>/d2d/<kid>/+`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import threading
from collections import OrderedDict
from typing import Callable

from dta.broker import CONNECT_TIMEOUT, BrokerLink, new_client, use_credentials
from dta.config import Config
from dta.errors import SessionLost
from dta.oidc.text import printable
from dtacore import channel, wire

log = logging.getLogger("dta.gateway")

# A claim is a small JSON object; anything larger on the claim topic is not one of ours.
MAX_CLAIM = 512
# QoS 1 publishes (acks, bridged frames) paho sends before queueing the rest: 0 = no limit.
# paho's default of 20 would make the acks of a batch of thousands wait for round trips, and
# any limit makes it scan its whole queue on every PUBACK; what is in flight is bounded here
# by the event writer's batch (one ack per device) and the serial lines' queues.
MAX_INFLIGHT = 0
# Hellos this gateway published for its serial devices, remembered (by digest) so that their
# echo on the hello topic it reads is not taken for a replay.
MAX_OWN_HELLOS = 256
# Devices whose channel topics are bridged to serial lines, over all lines.
MAX_BRIDGED = 4096


def client_id_for(cfg: Config, dta_id: bytes | None) -> str:
    if cfg.mqtt.client_id:
        return cfg.mqtt.client_id
    who = dta_id.hex()[:16] if dta_id else "gateway"
    return f"dta-{who}-{cfg.gateway.instance}"


def claim_topic(cfg: Config, client_id: str) -> str:
    return f"{cfg.mqtt.topic_prefix}/gateway/{client_id}/claim"


def _claim_of(payload: bytes) -> dict | None:
    if not payload or len(payload) > MAX_CLAIM:
        return None
    try:
        obj = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return obj if isinstance(obj, dict) and isinstance(obj.get("nonce"), str) else None


class MqttLink(BrokerLink):
    def __init__(self, gateway, on_fatal: Callable[[Exception], None] | None = None):
        super().__init__()
        self.gateway = gateway
        self.cfg: Config = gateway.cfg
        self.client_id = client_id_for(self.cfg, gateway.dta_id)
        prefix = self.cfg.mqtt.topic_prefix
        self.prefix = prefix
        self.hello_topic = f"{prefix}/hello/+"
        self.event_topic = f"{prefix}/event/+" if gateway.intake is not None else None
        self._hello_at = f"{prefix}/hello/"
        self._event_at = f"{prefix}/event/"
        self._ack_at = channel.ack_topic(prefix, b"")  # "<prefix>/ack/": + the kid in hex
        self.claim_topic = claim_topic(self.cfg, self.client_id)
        self._holding = False  # stopping: events are left to the broker for the next session
        self._bridged: dict[str, Callable[[str, bytes], None]] = {}  # kid hex -> deliver
        self._own_hellos: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()
        self.nonce = os.urandom(8).hex()
        self.on_fatal = on_fatal
        self.lost: SessionLost | None = None
        self._own_claim_seen = False
        self._stopping = False

    @property
    def where(self) -> str:
        return f"mqtt://{self.cfg.mqtt.host}:{self.cfg.mqtt.port}"

    def _client_for(self):
        client = new_client(self.client_id, clean_session=False, manual_ack=True,
                            max_inflight=MAX_INFLIGHT)
        use_credentials(client, self.cfg.mqtt)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def start(self) -> None:
        """Connect, subscribe, publish our claim; returns once the broker acknowledged all."""
        m = self.cfg.mqtt
        client = self._client_for()
        self._open(client, m.host, m.port, m.keepalive, self.where)
        claim = json.dumps({"nonce": self.nonce, "pid": os.getpid(),
                            "host": socket.gethostname()[:64]})
        info = client.publish(self.claim_topic, claim, qos=1, retain=True)
        info.wait_for_publish(CONNECT_TIMEOUT)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            hint = (" (check mqtt.username and mqtt.password_file)"
                    if "authori" in str(reason_code).lower() or "password" in
                    str(reason_code).lower() else "")
            log.error("the broker at %s refused the connection: %s%s", self.where, reason_code,
                      hint)
            self._refuse(f"refused the connection: {reason_code}{hint}")
            client.disconnect()
            return
        log.info("connected to %s as client id %s (%s)", self.where, self.client_id,
                 "session resumed" if flags.session_present else "new session")
        client.subscribe(self._topics())

    def _topics(self) -> list[tuple[str, int]]:
        topics = [(self.hello_topic, 1), (self.claim_topic, 1)]
        if self.event_topic:
            topics.append((self.event_topic, 1))
        with self._lock:
            kids = list(self._bridged)
        return topics + [(t, 1) for kid in kids for t in self._device_topics(kid)]

    def _device_topics(self, kid: str) -> tuple[str, str]:
        return f"{self.prefix}/dev/{kid}/+", f"{self.prefix}/d2d/{kid}/+"

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        failed = [rc for rc in reason_codes if rc.is_failure]
        if failed:
            wanted = ", ".join(t for t, _ in self._topics()[:3] if t != self.claim_topic)
            self._refuse(f"refused a subscription to {wanted} ({failed[0]}): check the "
                         "broker's ACL for mqtt.username")
        self._acknowledged()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if self._stopping or self.lost is not None or self._refused:
            return
        log.warning("lost the connection to the broker at %s (%s); reconnecting, the session "
                    "resumes where it was", self.where, reason_code)

    def _on_message(self, client, userdata, msg) -> None:
        topic, payload = msg.topic, msg.payload
        if topic.startswith(self._event_at):
            if self._holding:
                return  # not acknowledged: the broker gives it to the next session
            self.gateway.submit_event(payload, topic[len(self._event_at):], source="mqtt",
                                      reply=self.send_ack,
                                      done=lambda m=msg.mid, q=msg.qos: client.ack(m, q))
            return
        try:
            if topic == self.claim_topic:
                self._on_claim(client, userdata, msg)
            elif topic.startswith(self._hello_at):
                if self._own_hello(payload):
                    return
                self.gateway.receive(lambda: self.gateway.handle_hello(topic, bytes(payload)),
                                     "mqtt")
            else:
                self._bridge_in(topic, bytes(payload))
        finally:
            client.ack(msg.mid, msg.qos)

    def _on_claim(self, client, userdata, msg) -> None:
        claim = _claim_of(bytes(msg.payload))
        if claim is None:
            return
        if claim["nonce"] == self.nonce:
            self._own_claim_seen = True
            return
        if not self._own_claim_seen:
            return  # an older claim (retained from an earlier process); ours comes after it
        who = (f"pid {printable(str(claim.get('pid')), 12)} on host "
               f"{printable(str(claim.get('host')), 64)}")
        self._lose(f"another gateway ({who}) connected to {self.where} with this gateway's "
                   f"client id {self.client_id} and took its session: two gateways on one "
                   "session split the fleet between them. Stop one of them, or give each its "
                   "own [gateway] instance (two D-TAs get different ids by themselves)")

    def _lose(self, why: str) -> None:
        self.lost = SessionLost(why)
        log.critical("%s", why, extra={"fields": {"kind": "session-lost",
                                                  "client_id": self.client_id}})
        if self._client is not None:
            self._client.disconnect()  # and no reconnecting: the session is not ours any more
        if self.on_fatal is not None:
            self.on_fatal(self.lost)

    # -- device events and the serial bridge ------------------------------------------------

    def send_ack(self, kid: bytes, frame: bytes) -> None:
        self.publish(f"{self._ack_at}{kid.hex()}", frame)  # channel.ack_topic, for each event

    def publish(self, topic: str, payload: bytes) -> None:
        """QoS 1; paho queues it while the connection is down (the session resumes)."""
        client = self._client
        if client is not None:
            client.publish(topic, payload, qos=1)

    def hold_events(self) -> None:
        """Take no more events (stopping): those sent from now on stay with the broker."""
        self._holding = True

    def publish_hello(self, kid: bytes, frame: bytes) -> None:
        """A serial device's verified hello, for the D-TAs that learn keys from hellos."""
        with self._lock:
            self._own_hellos[hashlib.sha256(frame).digest()] = None
            while len(self._own_hellos) > MAX_OWN_HELLOS:
                self._own_hellos.popitem(last=False)
        self.publish(wire.hello_topic(self.prefix, kid), frame)

    def _own_hello(self, payload: bytes) -> bool:
        digest = hashlib.sha256(payload).digest()
        with self._lock:
            if digest not in self._own_hellos:
                return False
            del self._own_hellos[digest]
            return True

    def bridge(self, kid: str, deliver: Callable[[str, bytes], None]) -> bool:
        """Deliver what is published to `<prefix>/dev/<kid>/+` and `<prefix>/d2d/<kid>/+` with
        deliver(topic, frame), from paho's thread. -> False when MAX_BRIDGED devices are."""
        with self._lock:
            if kid in self._bridged:
                self._bridged[kid] = deliver
                return True
            if len(self._bridged) >= MAX_BRIDGED:
                return False
            self._bridged[kid] = deliver
        client = self._client
        if client is not None:
            client.subscribe([(t, 1) for t in self._device_topics(kid)])
        return True

    def _bridge_in(self, topic: str, frame: bytes) -> None:
        # <prefix>/dev/<kid>/<x> or <prefix>/d2d/<kid>/<x>: the device's deliver checks the
        # frame against the whole topic.
        levels = topic[len(self.prefix) + 1:].split("/")
        if len(levels) != 3 or levels[0] not in ("dev", "d2d"):
            return
        with self._lock:
            deliver = self._bridged.get(levels[1])
        if deliver is not None:
            deliver(topic, frame)

    def stop(self) -> None:
        self._stopping = True
        super().stop()
