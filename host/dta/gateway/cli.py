"""`dta gateway ...` and `dta devices ...`."""

from __future__ import annotations

import logging
import signal
import threading

import click

from dta.clictx import emit_json, pass_ctx
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
@pass_ctx
def run(ctx) -> None:
    """Subscribe to device hellos on the MQTT broker until Ctrl-C."""
    from dta.gateway.service import Gateway

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    gw = Gateway(ctx.cfg)
    gw.listeners.append(lambda e: click.echo(describe(e)))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    gw.start()
    m = ctx.cfg.mqtt
    click.echo(f"gateway listening on mqtt://{m.host}:{m.port}/{m.topic_prefix}/hello/+ "
               f"(registry {ctx.cfg.db_path})")
    stop.wait()
    gw.stop()
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
