"""`dta gateway ...` and `dta devices ...`."""

from __future__ import annotations

import logging
import signal
import threading

import click

from dta.cli.context import USER_ERRORS, emit_json, fail, open_signer, pass_ctx, passphrase_option
from dta.gateway.registry import Registry
from dta.gateway.serial_link import SerialLink
from dta.gateway.service import Gateway
from dta.log.service import Log


@click.group("gateway")
def cli() -> None:
    """Run the gateway that verifies and registers devices."""


def _open_log(ctx, passphrase_file) -> Log:
    try:
        return Log.open(ctx.cfg, open_signer(ctx.cfg, passphrase_file))
    except USER_ERRORS as exc:
        fail(exc)


def _start(ctx, gw: Gateway, mqtt: bool, serial_ports, baud: int) -> list[SerialLink]:
    try:
        if mqtt:
            gw.start()
        return [SerialLink(gw, port, baud).start() for port in serial_ports]
    except USER_ERRORS as exc:
        gw.stop()
        fail(exc)


@cli.command("run")
@passphrase_option
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
    if not mqtt and not serial_ports:
        raise click.UsageError("nothing to listen on: --no-mqtt needs at least one --serial")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    log = _open_log(ctx, passphrase_file)
    gw = Gateway(ctx.cfg, log=log)
    gw.listeners.append(lambda e: click.echo(e.describe()))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    links = _start(ctx, gw, mqtt, serial_ports, baud)
    m = ctx.cfg.mqtt
    where = ([f"mqtt://{m.host}:{m.port}/{m.topic_prefix}/hello/+"] if mqtt else []) + [
        f"serial {p} at {baud} baud" for p in serial_ports]
    click.echo(f"gateway listening on {', '.join(where)} (registry {ctx.cfg.registry_db}, "
               f"log {log.store.origin} at {log.store.size} entries)")
    log.run_checkpoints(stop, lambda cp: click.echo(
        f"checkpoint #{cp.seq}: {cp.tree_size} entries, root {cp.root.hex()}"))
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
    reg = Registry(ctx.cfg.registry_db)
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
