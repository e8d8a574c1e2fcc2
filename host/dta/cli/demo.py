"""`dta demo`: the README's first command."""

from __future__ import annotations

import logging
import signal
import threading
import time

import click

from dta import exitcodes
from dta.cli.context import codes, pass_ctx

REGISTER_TIMEOUT = 120


@click.command("demo", epilog=codes(exitcodes.VERIFY_FAILED, exitcodes.PASSPHRASE,
                                    exitcodes.UNREACHABLE, exitcodes.BUSY))
@click.option("--devices", type=click.IntRange(1, 32), default=3, show_default=True,
              help="Emulated devices to run.")
@click.option("--exit-when-registered", is_flag=True,
              help="Stop once every device is registered (for scripts and CI).")
@pass_ctx
def cli(ctx, devices: int, exit_when_registered: bool) -> None:
    """Run a broker, a gateway and emulated ESP32 devices on this machine until Ctrl-C.
    Exit 1 when not every device registered in time."""
    from dta.demo.fleet import Fleet
    from dta.gateway.registry import Registry

    # The demo narrates every event itself; the services' own log lines would repeat them.
    logging.getLogger("dta").setLevel(logging.CRITICAL)
    t0 = time.monotonic()

    def say(msg: str) -> None:
        click.echo(f"[{time.monotonic() - t0:6.2f}s] {msg}")

    workdir = ctx.cfg.data_dir / "demo"
    say(f"D-TA demo: data directory {workdir}")
    fleet = Fleet(ctx.cfg, workdir, devices, say)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    code = exitcodes.OK
    try:
        fleet.start()
        if fleet.wait_registered(REGISTER_TIMEOUT):
            say(f"all {devices} devices are registered with the gateway and enrolled")
            fleet.checkpoint_and_anchor()
        else:
            say("not every device registered in time")
            code = exitcodes.VERIFY_FAILED
        if not exit_when_registered and not code:
            say("running; press Ctrl-C to stop")
            stop.wait()
    finally:
        say("stopping devices, gateway and broker")
        fleet.stop()
    reg = Registry.existing(fleet.cfg.registry_db)
    for d in reg.devices() if reg else []:
        say(f"registry: {d.key_id} {d.board} fw {d.firmware} boot #{d.boot} {d.state}")
    raise SystemExit(code)
