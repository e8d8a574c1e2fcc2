"""`dta demo`: the README's first command (the story itself is dta.demo.fleet)."""

from __future__ import annotations

import logging
import signal
import threading
import time

import click

from dta import exitcodes
from dta.cli.context import codes, pass_ctx

EPILOG = codes(exitcodes.VERIFY_FAILED, exitcodes.PASSPHRASE, exitcodes.UNREACHABLE,
               exitcodes.SETUP, exitcodes.BUSY, exitcodes.INTERRUPTED) + (
    "\n\n\b\nWith --exit-when-done: 0 once every device verified everything, 1 when one did not "
    "within --timeout (the summary says what is missing), 130 when interrupted before.")


@click.command("demo", epilog=EPILOG)
@click.option("--devices", type=click.IntRange(0, 16), default=3, show_default=True,
              help="Emulated devices on MQTT.")
@click.option("--serial/--no-serial", default=True, show_default=True,
              help="Also one emulated device on a serial line (a socat PTY pair) that the "
                   "gateway bridges to the broker.")
@click.option("--exit-when-done", is_flag=True,
              help="Stop after the summary (for scripts and CI); the exit code says whether "
                   "every device verified everything.")
@click.option("--timeout", type=click.IntRange(10, 3600), default=300, show_default=True,
              help="Seconds the devices have to verify everything before the summary says "
                   "what is missing.")
@pass_ctx
def cli(ctx, devices: int, serial: bool, exit_when_done: bool, timeout: int) -> None:
    """The whole federation on this machine, on embedded defaults, under <data dir>/demo: a
    broker and a regtest node, three D-TAs born and confirmed on it, a gateway, emulated devices
    (the real firmware on the MicroPython VM) that check each D-TA's birth themselves, run
    handshakes, combine their shares, log events and verify their anchored receipts. Enrolment
    is approved automatically (the demo says so). Ends with a summary, then runs until Ctrl-C;
    a second run finds everything and continues."""
    from dta.demo.fleet import Fleet
    from dta.demo.summary import render

    # The demo narrates every step itself; the services' own log lines would repeat them.
    logging.getLogger("dta").setLevel(logging.CRITICAL)
    t0 = time.monotonic()

    def say(msg: str) -> None:
        click.echo(f"[{time.monotonic() - t0:7.2f}s] {msg}")

    workdir = ctx.cfg.data_dir / "demo"
    say(f"D-TA demo: data directory {workdir}")
    fleet = Fleet(ctx.cfg, workdir, mqtt_devices=devices, serial_devices=int(serial), say=say)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    code = exitcodes.OK
    try:
        fleet.start(stop)
        fleet.wait_done(timeout, stop)
        facts = fleet.summary()
        fleet.announce(render(facts) + [f"summary written to {facts['file']}"])
        code = (exitcodes.INTERRUPTED if stop.is_set() and not facts["complete"] else
                exitcodes.OK if facts["complete"] else exitcodes.VERIFY_FAILED)
        if not exit_when_done and not stop.is_set():
            say("running: devices wake, log events and verify, D-TAs anchor; press Ctrl-C to "
                "stop")
            stop.wait()
    finally:
        say("stopping devices, gateway, D-TAs, broker and node")
        fleet.stop()
    raise SystemExit(code)
