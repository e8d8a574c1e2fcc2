"""Prometheus endpoints (`/metrics`) of `dta gateway run` and `dta anchor run`, with the figures
`dta status` shows (dta.ops.status), computed when scraped.

Gateway: dta_devices{state}, dta_gateway_refused_frames_total{reason},
dta_gateway_pending_evicted_total, dta_gateway_device_events_total{outcome} (logged, duplicate;
since the gateway started), dta_gateway_device_events_queued, dta_broker_connected,
dta_log_tree_size,
dta_log_checkpoints, dta_log_last_checkpoint_age_seconds.
Anchorer: dta_anchors{state}, dta_anchor_fees_spent_sats_total,
dta_anchor_fees_in_flight_sats, dta_node_reachable, dta_node_height.
"""

from __future__ import annotations

import time

from prometheus_client import start_http_server
from prometheus_client.core import CollectorRegistry, CounterMetricFamily, GaugeMetricFamily

from dta.anchor.store import AnchorStore
from dta.errors import USER_ERRORS, ServiceError
from dta.gateway.registry import EVICTED
from dta.ops.status import anchor_totals, log_figures


class GatewayCollector:
    def __init__(self, gateway, log_store):
        self.gateway = gateway
        self.log_store = log_store

    def collect(self):
        reg = self.gateway.registry
        devices = GaugeMetricFamily("dta_devices", "Registered devices by state", labels=["state"])
        for state, n in reg.counts().items():
            devices.add_metric([state], n)
        yield devices
        refused = CounterMetricFamily("dta_gateway_refused_frames",
                                      "Frames refused, by reason", labels=["reason"])
        counts = reg.rejections()
        for reason, n in sorted(counts.items()):
            if reason != EVICTED:
                refused.add_metric([reason], n)
        yield refused
        yield CounterMetricFamily("dta_gateway_pending_evicted",
                                  "Pending devices evicted to keep the table bounded",
                                  value=counts.get(EVICTED, 0))
        intake = self.gateway.intake
        if intake is not None:
            events = CounterMetricFamily("dta_gateway_device_events",
                                         "Device events logged, or duplicates acknowledged again",
                                         labels=["outcome"])
            for outcome, n in sorted(intake.counts.items()):
                events.add_metric([outcome], n)
            yield events
            yield GaugeMetricFamily("dta_gateway_device_events_queued",
                                    "Device events waiting for the log", value=intake.queued)
        link = self.gateway.mqtt
        client = getattr(link, "_client", None)
        yield GaugeMetricFamily("dta_broker_connected", "1 while the MQTT session is connected",
                                value=int(bool(client is not None and client.is_connected())))
        yield from log_metrics(self.log_store)


def log_metrics(store):
    figures = log_figures(store, time.time())
    yield GaugeMetricFamily("dta_log_tree_size", "Entries in the transparency log",
                            value=figures["tree_size"])
    last = figures["last_checkpoint"]
    yield GaugeMetricFamily("dta_log_checkpoints", "Checkpoints closed",
                            value=0 if last is None else last["seq"] + 1)
    if last is not None:
        yield GaugeMetricFamily("dta_log_last_checkpoint_age_seconds",
                                "Seconds since the last checkpoint closed",
                                value=last["age_seconds"])


class AnchorCollector:
    """Reads the seal chain through its own connection (the anchorer's thread keeps its own)."""

    def __init__(self, anchorer):
        self.path = anchorer.store.path
        self.node = anchorer.node

    def collect(self):
        store = AnchorStore(self.path)
        try:
            totals = anchor_totals(store.all())
        finally:
            store.close()
        anchors = GaugeMetricFamily("dta_anchors", "Seal-chain steps by state", labels=["state"])
        for state, n in totals["states"].items():
            anchors.add_metric([state], n)
        yield anchors
        yield CounterMetricFamily("dta_anchor_fees_spent_sats",
                                  "Fees of confirmed and final anchors", value=totals["fees_sat"])
        yield GaugeMetricFamily("dta_anchor_fees_in_flight_sats",
                                "Fees of anchors sent but not confirmed",
                                value=totals["fees_in_flight_sat"])
        height = None
        if self.node is not None:
            try:
                height = self.node.height()
            except USER_ERRORS:
                height = None
        yield GaugeMetricFamily("dta_node_reachable", "1 when the node answered this scrape",
                                value=int(height is not None))
        if height is not None:
            yield GaugeMetricFamily("dta_node_height", "The node's block height", value=height)


class MetricsServer:
    def __init__(self, server, thread):
        self._server, self._thread = server, thread
        self.port = server.server_port

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def serve(collector, host: str, port: int) -> MetricsServer:
    """Serve `collector` on http://host:port/metrics from a daemon thread."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    try:
        server, thread = start_http_server(port, host, registry=registry)
    except OSError as exc:
        raise ServiceError(f"cannot serve metrics on {host}:{port}: {exc.strerror or exc} "
                           "(another process on that port? set [metrics] or --metrics-port)") \
            from None
    return MetricsServer(server, thread)
