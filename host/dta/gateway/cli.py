"""`dta gateway ...` and `dta devices ...`."""

from __future__ import annotations

import logging
import signal
import threading

import click

from dta.clictx import emit_json, pass_ctx
from dta.errors import DtaError
from dta.gateway.registry import Registry


def describe(event) -> str:
    """One line for a gateway operator."""
    if event.kind == "registered":
        logged = "" if event.log_index is None else f", logged as entry #{event.log_index}"
        return (f"new device {event.key_id} ({event.board}, firmware {event.firmware}) "
                f"registered, pending enrolment (boot #{event.boot}{logged})")
    if event.kind == "hello":
        return f"device {event.key_id} back online (boot #{event.boot})"
    if event.kind == "failed":
        return f"could not process a frame ({event.detail}); nothing was stored"
    return f"rejected a frame from {event.key_id or 'unknown device'}: {event.reason} ({event.detail})"


@click.group("gateway")
def cli() -> None:
    """Run the gateway that verifies and registers devices."""


@cli.command("run")
@click.option("--passphrase-file", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Authority passphrase file (else $DTA_PASSPHRASE, else a prompt).")
@click.option("--serial", "serial_ports", multiple=True, metavar="PORT",
              help="Also read devices on this serial port (repeatable; pyserial URLs work).")
@click.option("--baud", default=115200, show_default=True, help="Serial baud rate.")
@click.option("--mqtt/--no-mqtt", default=True, show_default=True,
              help="Subscribe to device hellos on the MQTT broker.")
@pass_ctx
def run(ctx, passphrase_file: str | None, serial_ports: tuple[str, ...], baud: int,
        mqtt: bool) -> None:
    """Verify and register devices from the MQTT broker until Ctrl-C.

    Every new device's enrolment goes into the D-TA's transparency log before it is registered,
    and the log's checkpoints close every [log] window_seconds, signed by the D-TA's identity key
    (so an authority must exist in the data directory: `dta authority init`).
    """
    from dta.gateway.serial_link import SerialLink
    from dta.gateway.service import Gateway
    from dta.log.cli import open_log

    if not mqtt and not serial_ports:
        raise click.UsageError("nothing to listen on: --no-mqtt needs at least one --serial")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        log = open_log(ctx.cfg, passphrase_file)
    except DtaError as exc:
        raise click.ClickException(str(exc)) from None
    gw = Gateway(ctx.cfg, log=log)
    gw.listeners.append(lambda e: click.echo(describe(e)))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    links = []
    try:
        if mqtt:
            gw.start()
        links = [SerialLink(gw, port, baud).start() for port in serial_ports]
    except DtaError as exc:
        gw.stop()
        raise click.ClickException(str(exc)) from None
    m = ctx.cfg.mqtt
    where = ([f"mqtt://{m.host}:{m.port}/{m.topic_prefix}/hello/+"] if mqtt else []) + [
        f"serial {p} at {baud} baud" for p in serial_ports]
    click.echo(f"gateway listening on {', '.join(where)} "
               f"(registry {ctx.cfg.db_path}, log {log.store.origin} at {log.store.size} entries)")
    # The log has no timer of its own: close due checkpoints here, once per window. Entries
    # other processes appended (`dta log append`) count too; a checkpoint another process
    # already closed over the same size is not repeated.
    while not stop.wait(ctx.cfg.log.window_seconds):
        size = log.store.refresh()
        last = log.store.last_checkpoint()
        cp = log.maybe_checkpoint() if size > (last.tree_size if last else 0) else None
        if cp:
            click.echo(f"checkpoint #{cp.seq}: {cp.tree_size} entries, root {cp.root.hex()}")
    for link in links:
        link.stop()
    gw.stop()
    log.store.close()
    click.echo("gateway stopped")


@click.group("devices")
def devices_cli() -> None:
    """Registered devices, and emulated ones to run."""


@devices_cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def list_devices(ctx, as_json: bool) -> None:
    """List registered devices."""
    reg = Registry(ctx.cfg.db_path)
    devices = reg.devices()
    if as_json:
        emit_json({"devices": [d.as_dict() for d in devices], "rejections": reg.rejections()})
        return
    if not devices:
        click.echo("no devices registered")
    for d in devices:
        click.echo(f"{d.key_id}  {d.status:<18} {d.board:<14} fw {d.firmware:<8} boot #{d.boot}")
    for reason, count in sorted(reg.rejections().items()):
        click.echo(f"rejected frames: {reason}: {count}")
