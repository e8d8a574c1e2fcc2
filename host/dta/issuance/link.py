"""The D-TA's MQTT side (paho, CallbackAPIVersion.VERSION2, QoS 1): one persistent session
(clean session off: frames sent while the D-TA restarts wait on the broker) with a client id
derived from the D-TA id, so several D-TAs share a broker, in one process or several.

Subscriptions: `<p>/dta/<dta8>/+` (TO_DTA frames from devices) and `<p>/hello/+` (hellos, from
which the D-TA learns device keys). Replies go to `<p>/dev/<kid>/<dta8>`. A frame whose ids are
not the ones its topic names, or that does not decode, is answered with the handshake's error
message (malformed) on the topic's device, when the topic names one.
"""

from __future__ import annotations

import logging
from typing import Callable

from dta.broker import BrokerLink, new_client, no_delay, use_credentials
from dta.config import Config
from dtacore import channel
from dtacore import handshake_wire as W
from dtacore.errors import DecodeError

log = logging.getLogger("dta.issuance")

KID_HEX = 16
# QoS 1 replies in flight (sent, not yet acknowledged by the broker) before paho holds the next
# back: one issuance is ~6 frames, and paho's default of 20 throttles a busy D-TA to 20 frames
# per broker round trip. mosquitto bounds what it accepts per client itself.
MAX_INFLIGHT = 1000


def client_id_for(dta_id: bytes) -> str:
    """`dta-<first 16 hex digits of the D-TA id>-authority`: the gateway of the same D-TA is
    `dta-<same>-<instance>` (dta.gateway.mqtt_link), so the two never share a session."""
    return f"dta-{bytes(dta_id).hex()[:16]}-authority"


def _kid(text: str) -> bytes | None:
    if len(text) != KID_HEX or any(c not in "0123456789abcdef" for c in text):
        return None
    return bytes.fromhex(text)


class AuthorityLink(BrokerLink):
    def __init__(self, cfg: Config, dta_id: bytes, *,
                 on_frame: Callable[[bytes, bytes], None],
                 on_hello: Callable[[str, bytes], None]):
        super().__init__()
        self.cfg = cfg
        self.prefix = cfg.mqtt.topic_prefix
        self.dta8 = bytes(dta_id[:8])
        self.client_id = client_id_for(dta_id)
        self.on_frame, self.on_hello = on_frame, on_hello
        self._dta_prefix = f"{self.prefix}/dta/{self.dta8.hex()}/"
        self._hello_prefix = f"{self.prefix}/hello/"
        self.malformed = 0

    @property
    def where(self) -> str:
        return f"mqtt://{self.cfg.mqtt.host}:{self.cfg.mqtt.port}"

    def start(self) -> None:
        """Connect and subscribe; returns once the broker acknowledged the subscriptions."""
        m = self.cfg.mqtt
        client = new_client(self.client_id, clean_session=False, max_inflight=MAX_INFLIGHT)
        use_credentials(client, m)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        self._open(client, m.host, m.port, m.keepalive, self.where)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._refuse(f"refused the connection: {reason_code}")
            client.disconnect()
            return
        no_delay(client)
        log.info("D-TA %s connected to %s as %s", self.dta8.hex(), self.where, self.client_id)
        client.subscribe([(self._dta_prefix + "+", 1), (self._hello_prefix + "+", 1)])

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        failed = [rc for rc in reason_codes if rc.is_failure]
        if failed:
            self._refuse(f"refused a subscription ({failed[0]}): check the broker's ACL "
                         "for mqtt.username")
        self._acknowledged()

    def _on_message(self, client, userdata, msg) -> None:
        topic, payload = msg.topic, bytes(msg.payload)
        if topic.startswith(self._hello_prefix):
            self.on_hello(topic, payload)
            return
        kid = _kid(topic[len(self._dta_prefix):]) if topic.startswith(self._dta_prefix) else None
        if kid is None:
            self.malformed += 1
            return
        try:
            ftype, dta8, device, body = channel.decode(payload)
        except DecodeError:
            ftype = dta8 = device = None
        if ftype != channel.TYPE_TO_DTA or dta8 != self.dta8 or device != kid:
            self.malformed += 1
            self.send(kid, W.encode_error(0, W.MessageDecodeError.code))
            return
        self.on_frame(kid, body)

    def send(self, kid: bytes, payload: bytes) -> None:
        frame = channel.encode(channel.TYPE_TO_DEVICE, self.dta8, kid, payload)
        client = self._client
        if client is not None:
            client.publish(channel.topic_to_device(self.prefix, kid, self.dta8), frame, qos=1)

