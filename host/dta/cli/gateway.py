"""`dta gateway run` and the `dta devices` group."""

from __future__ import annotations

import logging
import signal
import threading

import click

from dta import exitcodes
from dta.cli.context import codes, open_signer, pass_ctx, passphrase_option
from dta.datadir import DataDirLock
from dta.errors import AuthorityError, SessionLost
from dta.gateway.mqtt_link import client_id_for
from dta.gateway.serial_link import SerialLink
from dta.gateway.service import Gateway
from dta.log.service import Log

log = logging.getLogger("dta.gateway")
checkpoints = logging.getLogger("dta.log")


@click.group("gateway")
def cli() -> None:
    """Run the gateway that verifies and registers devices."""


def _banner(ctx, gw: Gateway, facts, store, mqtt: bool, serial_ports, baud: int) -> None:
    m = ctx.cfg.mqtt
    where = ([f"mqtt://{m.host}:{m.port}/{m.topic_prefix}/{{hello,event}}/+ as client id "
              f"{client_id_for(ctx.cfg, facts.dta_id)}"] if mqtt else [])
    where += [f"serial {p} at {baud} baud" for p in serial_ports]
    counts = gw.registry.counts()
    log.info("gateway of D-TA '%s' (%s...) starting on %s; registry %s (%d enrolled, %d "
             "pending); log %s at %d entries", facts.name, facts.dta_id.hex()[:16],
             ", ".join(where), ctx.cfg.registry_db, counts["enrolled"], counts["pending"],
             store.origin, store.size)


def _metrics(ctx, gw: Gateway, store):
    port = ctx.cfg.metrics.gateway_port
    if not port:
        return None
    from dta.ops import metrics
    server = metrics.serve(metrics.GatewayCollector(gw, store), ctx.cfg.metrics.host, port)
    log.info("metrics on http://%s:%d/metrics", ctx.cfg.metrics.host, server.port)
    return server


def _serve(ctx, gw: Gateway, log_: Log, mqtt: bool, serial_ports, baud: int) -> list:
    """Every transport started and the checkpoint clock run until a signal or a lost session."""
    stop = threading.Event()
    fatal: list[Exception] = []

    def lose(exc: Exception) -> None:
        fatal.append(exc)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    links: list[SerialLink] = []
    try:
        if mqtt:
            gw.start(on_fatal=lose)
        links = [SerialLink(gw, port, baud).start() for port in serial_ports]
        log.info("gateway running: every hello is verified; new devices wait for `dta devices "
                 "enroll`; enrolled devices' events are logged and acknowledged")
        log_.run_checkpoints(stop, lambda cp: checkpoints.info(
            "checkpoint #%d closed: %d entries, root %s", cp.seq, cp.tree_size, cp.root.hex(),
            extra={"fields": {"seq": cp.seq, "tree_size": cp.tree_size,
                              "root": cp.root.hex()}}))
    finally:
        for link in links:
            link.stop()
        gw.stop()
    return fatal


@cli.command("run", epilog=codes(exitcodes.CONFIG, exitcodes.PASSPHRASE, exitcodes.UNREACHABLE,
                                 exitcodes.SETUP, exitcodes.BUSY, exitcodes.SESSION_LOST))
@passphrase_option
@click.option("--serial", "serial_ports", multiple=True, metavar="PORT",
              help="Also read devices on this serial port (repeatable; pyserial URLs work).")
@click.option("--baud", default=115200, show_default=True, help="Serial baud rate.")
@click.option("--mqtt/--no-mqtt", default=True, show_default=True,
              help="Subscribe to device hellos on the MQTT broker.")
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=None,
              help="Serve Prometheus metrics here (default: [metrics] gateway_port; 0 = off).")
@pass_ctx
def run(ctx, passphrase_file: str | None, serial_ports: tuple[str, ...], baud: int,
        mqtt: bool, metrics_port: int | None) -> None:
    """Verify and register devices from the MQTT broker and serial lines until Ctrl-C.

    A new key is registered as pending and costs nothing in the transparency log until
    `dta devices enroll` approves it; the log's checkpoints close every [log] window_seconds,
    signed by the D-TA's identity key (so an authority must exist: `dta authority init`).
    One gateway per data directory (a lock) and per broker session: if another process takes
    the session, this one says so and exits with code 10.
    """
    from dataclasses import replace

    from dta.authority import identity

    if not mqtt and not serial_ports:
        raise click.UsageError("nothing to listen on: --no-mqtt needs at least one --serial")
    if metrics_port is not None:
        ctx.cfg = replace(ctx.cfg, metrics=replace(ctx.cfg.metrics, gateway_port=metrics_port))
    if not identity.exists(ctx.cfg.data_dir):  # before the lock: create nothing for nothing
        raise AuthorityError(f"no authority in {ctx.cfg.data_dir} (run `dta authority init`)")
    with DataDirLock(ctx.cfg.data_dir, "gateway"):
        log_ = Log.open(ctx.cfg, open_signer(ctx.cfg, passphrase_file))
        facts = identity.load_public(ctx.cfg.data_dir)
        gw = Gateway(ctx.cfg, dta_id=facts.dta_id, log=log_)
        server = None
        try:
            _banner(ctx, gw, facts, log_.store, mqtt, serial_ports, baud)
            server = _metrics(ctx, gw, log_.store)
            fatal = _serve(ctx, gw, log_, mqtt, serial_ports, baud)
        finally:
            if server is not None:
                server.close()
            gw.registry.close()
            log_.store.close()
    if fatal:
        raise fatal[0] if isinstance(fatal[0], SessionLost) else SessionLost(str(fatal[0]))
    log.info("gateway stopped")


@click.group("devices")
def devices_cli() -> None:
    """Registered devices: list, enrol, revoke; and emulated ones to run."""
