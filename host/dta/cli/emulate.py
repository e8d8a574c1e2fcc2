"""`dta devices emulate`: run an emulated device from the command line (CI, experiments)."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path

import click

from dta import exitcodes
from dta.cli.context import pass_ctx
from dta.config import read_secret_file
from dta.emulator import AGENT_HEAP
from dta.oidc.text import printable

EPILOG = ("\b\nExit codes (with --once):\n  0   the device sent its hello\n"
          "  22  the device refused its config      23  its entropy source failed\n"
          "  24  its identity key is damaged        25  it could not reach the broker\n"
          "  (20 + the device's own code; 2 usage and 3 config are dta's own)")


def _line(event: dict) -> str:
    fields = " ".join(f"{k}={printable(str(v), 80)}" for k, v in sorted(event.items())
                      if k != "event")
    return f"{event['event']}: {fields}" if fields else event["event"]


def _settings(ctx, once: bool, entropy_path, serial_path) -> dict:
    m = ctx.cfg.mqtt
    settings = {"mqtt_host": m.host, "mqtt_port": m.port, "topic_prefix": m.topic_prefix,
                "once": once}
    if m.device_username:
        settings["mqtt_user"] = m.device_username
        if m.device_password_file:
            settings["mqtt_password"] = read_secret_file(m.device_password_file,
                                                         "mqtt.device_password_file")
    if entropy_path:
        settings["entropy_path"] = entropy_path
    if serial_path:
        settings.update(transport="serial", serial_path=serial_path)
    return settings


@click.command("emulate", epilog=EPILOG)
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--once", is_flag=True, help="Send one hello, then exit with the device's code.")
@click.option("--heapsize", default=AGENT_HEAP, show_default=True,
              help="MicroPython heap size (the agent's: bench/device.py prints its smallest).")
@click.option("--entropy-path", default=None, help="Entropy source file (emulated board only).")
@click.option("--serial", "serial_path", default=None, metavar="PATH",
              help="Talk to the gateway over this serial device (a PTY) instead of MQTT.")
@click.option("--json", "as_json", is_flag=True, help="Print each event as a JSON object.")
@pass_ctx
def emulate(ctx, directory: str, once: bool, heapsize: str, entropy_path: str | None,
            serial_path: str | None, as_json: bool) -> None:
    """Boot an emulated device: the unix bundle flashed into DIRECTORY, on the MicroPython VM.

    The device's own files (config.json, key.bin, state.bin) survive re-flashing, so the same
    DIRECTORY is the same device across runs. Broker settings and the devices' broker account
    (mqtt.device_username, mqtt.device_password_file) come from the configuration.
    """
    from dta.emulator import EmulatedDevice
    from dta.firmware.bundle import build

    def show(event: dict) -> None:
        click.echo(json.dumps(event, sort_keys=True) if as_json else _line(event))

    root = Path(directory)
    dev = EmulatedDevice(root, heapsize=heapsize)
    settings = _settings(ctx, once, entropy_path, serial_path)
    dev.flash(build("unix", root.parent / f".{root.name}.bundle"))
    dev.configure(**settings)
    if once:
        run = dev.run()
        for event in run.events:
            show(event)
        raise SystemExit(exitcodes.for_device(run.returncode))
    done = threading.Event()
    codes: list[int] = []

    def on_event(event: dict) -> None:
        if event["event"] == "exit":
            codes.append(event["code"])
            done.set()
            if event.get("stopped"):
                return
        show(event)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    dev.start(on_event)
    done.wait()
    dev.stop()
    raise SystemExit(exitcodes.for_device(codes[0]) if codes and codes[0] > 0 else 0)
