"""What every host MQTT link shares (the D-TA's, the gateway's, a host-side device's): a paho
client (CallbackAPIVersion.VERSION2) with the config's credentials, connected, its network loop
started, and the broker's acknowledgement of the subscriptions (or its refusal) awaited before
`start` returns. Each link subscribes in its own on_connect and calls `_acknowledged` or
`_refuse` from its callbacks."""

from __future__ import annotations

import socket
import threading

import paho.mqtt.client as mqtt

from dta.config import MqttConfig, read_secret_file
from dta.errors import ServiceError

# Connecting and the SUBACK together, before a link's start gives up.
CONNECT_TIMEOUT = 10.0


def new_client(client_id: str, *, clean_session: bool, manual_ack: bool = False,
               max_inflight: int | None = None) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                         clean_session=clean_session, manual_ack=manual_ack)
    if max_inflight is not None:
        client.max_inflight_messages_set(max_inflight)
    return client


def use_credentials(client: mqtt.Client, m: MqttConfig) -> None:
    """mqtt.username, with the password read from mqtt.password_file (0600) if one is set."""
    if m.username:
        password = (read_secret_file(m.password_file, "mqtt.password_file")
                    if m.password_file else None)
        client.username_pw_set(m.username, password)


def no_delay(client: mqtt.Client) -> None:
    """Small frames go out at once (TCP_NODELAY): a reply is several small QoS 1 publishes in
    a row, and Nagle's algorithm would hold each one back for the previous one's TCP
    acknowledgement, which the receiver delays (~40 ms a frame on Linux). paho leaves it on.
    The broker needs the same for its side (mosquitto: set_tcp_nodelay true)."""
    sock = client.socket()
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class BrokerLink:
    """Connect-and-wait, and stop, for a link class."""

    def __init__(self) -> None:
        self._subscribed = threading.Event()
        self._refused: str | None = None
        self._client: mqtt.Client | None = None

    def _open(self, client: mqtt.Client, host: str, port: int, keepalive: int,
              where: str) -> None:
        """Connect, start the loop, wait for the SUBACK; ServiceError (after stop) if the
        broker cannot be reached, refuses, or does not answer in CONNECT_TIMEOUT."""
        self._client = client
        try:
            client.connect(host, port, keepalive=keepalive)
        except OSError as exc:
            raise ServiceError(f"cannot reach the MQTT broker at {where}: "
                               f"{exc.strerror or exc}") from None
        client.loop_start()
        if not self._subscribed.wait(CONNECT_TIMEOUT) or self._refused:
            why = self._refused or "did not acknowledge the subscriptions in time"
            self.stop()
            raise ServiceError(f"MQTT broker {where}: {why}")

    def _refuse(self, why: str) -> None:
        """The broker refused the connection or a subscription: `start` raises with `why`."""
        if not self._subscribed.is_set():
            self._refused = why
        self._subscribed.set()

    def _acknowledged(self) -> None:
        self._subscribed.set()

    def stop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            client.loop_stop()
