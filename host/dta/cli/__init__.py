"""The `dta` command line: option parsing and output only. Each module of this package is one
command group and calls the library packages' APIs; nothing outside dta.cli imports it.

Every failure ends the same way: one line `error: <sentence>` on stderr and the exit code its
class maps to (dta.exitcodes, listed in docs/operations.md); no Python exception text reaches
the user. An error nothing anticipated is a bug: it says so, exits 70, and DTA_DEBUG=1 shows
its traceback.
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

import click

from dta import __version__, exitcodes, logs
from dta import config as config_mod
from dta.cli.context import Ctx
from dta.errors import USER_ERRORS

DEBUG_ENV = "DTA_DEBUG"


def _usage_error(exc: click.UsageError) -> None:
    if exc.ctx is not None:
        click.echo(exc.ctx.get_usage(), err=True)
        click.echo(f"Try '{exc.ctx.command_path} --help' for help.\n", err=True)
    click.echo(f"error: {exc.format_message()}", err=True)


class DtaGroup(click.Group):
    """Runs a command and turns whatever ends it into one message and one exit code."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True,
             **extra):
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            code = rv if isinstance(rv, int) else exitcodes.OK
        except click.UsageError as exc:
            _usage_error(exc)
            code = exitcodes.USAGE
        except click.ClickException as exc:
            exc.show()
            code = exc.exit_code
        except (click.Abort, KeyboardInterrupt, EOFError):
            click.echo("\nerror: interrupted", err=True)
            code = exitcodes.INTERRUPTED
        except USER_ERRORS as exc:
            click.echo(f"error: {exc}", err=True)
            code = exitcodes.for_error(exc)
        except Exception as exc:
            if os.environ.get(DEBUG_ENV):
                raise
            click.echo(f"error: internal error ({type(exc).__name__}: {exc}). This is a bug "
                       f"in dta; run again with {DEBUG_ENV}=1 to see where it happened.",
                       err=True)
            code = exitcodes.INTERNAL
        sys.exit(code)


@click.group(cls=DtaGroup, context_settings={"help_option_names": ["-h", "--help"]},
             epilog=exitcodes.epilog(*sorted(set(exitcodes.MEANING) - {exitcodes.OK})))
@click.option("--config", "config_path", type=click.Path(dir_okay=False), envvar="DTA_CONFIG",
              help="TOML configuration file (default: <data dir>/dta.toml if present).")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Where the D-TA keeps its state (env DTA_DATA_DIR).")
@click.option("-v", "--verbose", count=True, help="More log lines (debug); the services' logs.")
@click.option("-q", "--quiet", count=True, help="Fewer log lines (warnings and errors only).")
@click.option("--log-format", type=click.Choice(logs.FORMATS), default=logs.TEXT,
              show_default=True, help="Log lines as text or as JSON objects (one per line).")
@click.version_option(__version__, prog_name="dta")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, data_dir: str | None, verbose: int,
         quiet: int, log_format: str) -> None:
    """D-TA: a Distributed Trust Authority for fleets of constrained devices."""
    logs.configure(logs.level_for(verbose, quiet), log_format)
    env = dict(os.environ)
    if data_dir:
        env["DTA_DATA_DIR"] = data_dir  # so <data dir>/dta.toml is the one found
    found = config_mod.find_file(config_path or None, env)
    cfg = config_mod.load(config_path or None, env)
    if data_dir:
        cfg = replace(cfg, data_dir=Path(data_dir).expanduser())
    ctx.obj = Ctx(cfg, Path(config_path) if config_path else found)


def _register() -> None:
    # One line per command group; each module exposes a click command or group.
    from dta.cli.anchor import cli as anchor_cli
    from dta.cli.anchor import receipt_cli
    from dta.cli.authority import cli as authority_cli
    from dta.cli.authority_run import run_cmd as authority_run_cmd
    from dta.cli.demo import cli as demo_cli
    from dta.cli.devices import enroll_cmd, list_cmd, revoke_cmd
    from dta.cli.devnet import cli as devnet_cli
    from dta.cli.emulate import emulate
    from dta.cli.firmware import cli as firmware_cli
    from dta.cli.flash import flash_cmd, image_cmd, provision_cmd
    from dta.cli.gateway import cli as gateway_cli
    from dta.cli.gateway import devices_cli
    from dta.cli.log import cli as log_cli
    from dta.cli.login import login_cmd
    from dta.cli.receipt_info import info_cmd
    from dta.cli.serve_http import serve_http_cmd
    from dta.cli.shares import cli as shares_cli
    from dta.cli.status import doctor_cmd, status_cmd
    from dta.cli.verify import verify_cmd

    for cmd in (list_cmd, enroll_cmd, revoke_cmd, emulate, image_cmd, flash_cmd, provision_cmd):
        devices_cli.add_command(cmd)
    receipt_cli.add_command(info_cmd)
    authority_cli.add_command(authority_run_cmd)
    authority_cli.add_command(serve_http_cmd)
    for cmd in (authority_cli, anchor_cli, receipt_cli, verify_cmd, gateway_cli, devices_cli,
                firmware_cli, demo_cli, log_cli, devnet_cli, status_cmd, doctor_cmd, login_cmd,
                shares_cli):
        main.add_command(cmd)


_register()


def run() -> None:  # pragma: no cover - console entry
    main()
