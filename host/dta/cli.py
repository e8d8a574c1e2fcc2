"""The `dta` command line. Each feature package defines its own click group in its `cli` module;
this file only assembles them and loads the configuration."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from dta import __version__, config as config_mod
from dta.clictx import Ctx, emit_json, pass_ctx  # noqa: F401 (re-exported for commands)
from dta.errors import DtaError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(dir_okay=False), envvar="DTA_CONFIG",
              help="TOML configuration file (default: <data dir>/dta.toml if present).")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Where the D-TA keeps its state (env DTA_DATA_DIR).")
@click.version_option(__version__, prog_name="dta")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, data_dir: str | None) -> None:
    """D-TA: a Distributed Trust Authority for fleets of constrained devices."""
    try:
        cfg = config_mod.load(config_path)
    except DtaError as exc:
        raise click.ClickException(str(exc)) from None
    if data_dir:
        from dataclasses import replace
        cfg = replace(cfg, data_dir=Path(data_dir))
    ctx.obj = Ctx(cfg)


def _register() -> None:
    # One line per feature package; each module exposes a click command or group named `cli`.
    from dta.gateway.cli import cli as gateway_cli, devices_cli
    from dta.firmware.cli import cli as firmware_cli
    from dta.demo.cli import cli as demo_cli
    from dta.emulator_cli import emulate
    from dta.authority.cli import cli as authority_cli
    from dta.chain.cli import cli as anchor_cli, receipt_cli, verify_cmd
    from dta.log.cli import cli as log_cli

    devices_cli.add_command(emulate)
    for cmd in (authority_cli, anchor_cli, receipt_cli, verify_cmd,
                gateway_cli, devices_cli, firmware_cli, demo_cli, log_cli):
        main.add_command(cmd)


_register()


def run() -> None:  # pragma: no cover - console entry
    try:
        main()
    except DtaError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
