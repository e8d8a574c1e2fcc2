"""`dta devices emulate`: run an emulated device from the command line (CI, experiments)."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path

import click

from dta.cli.context import pass_ctx


@click.command("emulate")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--once", is_flag=True, help="Send one hello, then exit with the device's code.")
@click.option("--heapsize", default="64k", show_default=True, help="MicroPython heap size.")
@click.option("--entropy-path", default=None, help="Entropy source file (emulated board only).")
@click.option("--serial", "serial_path", default=None, metavar="PATH",
              help="Talk to the gateway over this serial device (a PTY) instead of MQTT.")
@pass_ctx
def emulate(ctx, directory: str, once: bool, heapsize: str, entropy_path: str | None,
            serial_path: str | None) -> None:
    """Boot an emulated device: the unix bundle flashed into DIRECTORY, on the MicroPython VM.

    The device's own files (config.json, key.bin, state.bin) survive re-flashing, so the same
    DIRECTORY is the same device across runs. Broker settings come from the configuration.
    """
    from dta.emulator import EmulatedDevice
    from dta.firmware.bundle import build

    root = Path(directory)
    dev = EmulatedDevice(root, heapsize=heapsize)
    dev.flash(build("unix", root.parent / f".{root.name}.bundle"))
    m = ctx.cfg.mqtt
    settings = {"mqtt_host": m.host, "mqtt_port": m.port, "topic_prefix": m.topic_prefix,
                "once": once}
    if entropy_path:
        settings["entropy_path"] = entropy_path
    if serial_path:
        settings.update(transport="serial", serial_path=serial_path)
    dev.configure(**settings)
    if once:
        run = dev.run()
        for event in run.events:
            click.echo(json.dumps(event, sort_keys=True))
        raise SystemExit(run.returncode)
    done = threading.Event()
    codes: list[int] = []

    def on_event(event: dict) -> None:
        click.echo(json.dumps(event, sort_keys=True))
        if event["event"] == "exit":
            codes.append(event["code"])
            done.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    dev.start(on_event)
    done.wait()
    dev.stop()
    raise SystemExit(codes[0] if codes and codes[0] > 0 else 0)
