"""A host-side device's MQTT side (paho, VERSION2, QoS 1): it publishes its hello on
`<p>/hello/<kid>` and TO_DTA frames on `<p>/dta/<dta8>/<kid>`, and reads TO_DEVICE frames from
`<p>/dev/<kid>/+` into one inbox per D-TA. A frame whose ids are not its topic's is dropped and
counted (nothing else on the device's topics is trusted either: dta.issuance.device checks
every payload). `sent` keeps the last frames published, so a test can deliver one again exactly
as a QoS 1 redelivery would."""

from __future__ import annotations

import os
import queue
import threading
from collections import deque

from dta.broker import CONNECT_TIMEOUT, BrokerLink, new_client, no_delay
from dta.errors import ServiceError
from dtacore import channel, wire
from dtacore.errors import DecodeError

# Payloads waiting per D-TA before the oldest are dropped: a bundle of MAX_BUNDLE_HEADERS
# headers is ~400 frames; a device reads as they come.
INBOX_LIMIT = 4096
# Frames kept for resending (tests; a device keeps only its last message).
SENT_KEPT = 64


class DeviceLink(BrokerLink):
    def __init__(self, host: str, port: int, prefix: str, kid: bytes, *,
                 username: str | None = None, password: str | None = None,
                 client_id: str | None = None):
        super().__init__()
        self.host, self.port, self.prefix, self.kid = host, port, prefix, bytes(kid)
        # A host-side device: several may hold one key (a wiped device beside its old self)
        self.client_id = client_id or f"dta-dev-{self.kid.hex()}-{os.urandom(3).hex()}"
        self.username, self.password = username, password
        self._inboxes: dict[bytes, queue.Queue] = {}
        self._lock = threading.Lock()
        self.sent: deque[tuple[str, bytes]] = deque(maxlen=SENT_KEPT)
        self.dropped = 0

    def start(self) -> "DeviceLink":
        client = new_client(self.client_id, clean_session=True)
        if self.username:
            client.username_pw_set(self.username, self.password)
        client.on_connect = self._on_connect
        client.on_subscribe = lambda c, u, mid, codes, props: self._acknowledged()
        client.on_message = self._on_message
        self._open(client, self.host, self.port, 30, f"{self.host}:{self.port}")
        return self

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._refuse(f"refused the connection: {reason_code}")
            return
        no_delay(client)
        client.subscribe(f"{self.prefix}/dev/{self.kid.hex()}/+", 1)

    def _on_message(self, client, userdata, msg) -> None:
        dta_hex = msg.topic.rsplit("/", 1)[-1]
        try:
            ftype, dta8, device, payload = channel.decode(bytes(msg.payload))
        except DecodeError:
            self.dropped += 1
            return
        if ftype != channel.TYPE_TO_DEVICE or device != self.kid or dta8.hex() != dta_hex:
            self.dropped += 1
            return
        box = self.inbox(dta8)
        if box.full():
            self.dropped += 1
            return
        box.put(payload)

    def inbox(self, dta8: bytes) -> queue.Queue:
        with self._lock:
            box = self._inboxes.get(bytes(dta8))
            if box is None:
                box = self._inboxes[bytes(dta8)] = queue.Queue(INBOX_LIMIT)
            return box

    def publish(self, topic: str, frame: bytes) -> None:
        if self._client is None:
            raise ServiceError("the device link is not started")
        self.sent.append((topic, frame))
        self._client.publish(topic, frame, qos=1)

    def send(self, dta8: bytes, payload: bytes) -> None:
        self.publish(channel.topic_to_dta(self.prefix, dta8, self.kid),
                     channel.encode(channel.TYPE_TO_DTA, dta8, self.kid, payload))

    def hello(self, frame: bytes) -> None:
        info_topic = wire.hello_topic(self.prefix, self.kid)
        self.sent.append((info_topic, frame))
        info = self._client.publish(info_topic, frame, qos=1)
        info.wait_for_publish(CONNECT_TIMEOUT)

