"""The `dta` command line: option parsing and output only. Each module of this package is one
command group and calls the library packages' APIs; nothing outside dta.cli imports it."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import click

from dta import __version__
from dta import config as config_mod
from dta.cli.context import Ctx
from dta.errors import USER_ERRORS


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
    except USER_ERRORS as exc:
        raise click.ClickException(str(exc)) from None
    if data_dir:
        cfg = replace(cfg, data_dir=Path(data_dir))
    ctx.obj = Ctx(cfg)


def _register() -> None:
    # One line per command group; each module exposes a click command or group.
    from dta.cli.anchor import cli as anchor_cli
    from dta.cli.anchor import receipt_cli
    from dta.cli.authority import cli as authority_cli
    from dta.cli.demo import cli as demo_cli
    from dta.cli.emulate import emulate
    from dta.cli.firmware import cli as firmware_cli
    from dta.cli.gateway import cli as gateway_cli
    from dta.cli.gateway import devices_cli
    from dta.cli.log import cli as log_cli
    from dta.cli.verify import verify_cmd

    devices_cli.add_command(emulate)
    for cmd in (authority_cli, anchor_cli, receipt_cli, verify_cmd,
                gateway_cli, devices_cli, firmware_cli, demo_cli, log_cli):
        main.add_command(cmd)


_register()


def run() -> None:  # pragma: no cover - console entry
    try:
        main()
    except USER_ERRORS as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
