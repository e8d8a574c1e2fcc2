"""What every `dta` command shares: the context object, the passphrase, output (human by
default, `--json` for scripts) and the one way a library error becomes a message and an exit
code (dta.exitcodes)."""

from __future__ import annotations

import datetime
import json
import os
import time
from pathlib import Path
from typing import Callable

import click

from dta import config as config_mod
from dta import exitcodes
from dta import passphrase as passphrases
from dta.errors import USER_ERRORS, AuthorityError

PASSPHRASE_ENV = passphrases.ENV


class Ctx:
    """What every command receives: the loaded configuration and the file it came from."""

    def __init__(self, cfg: config_mod.Config, config_file: Path | None = None):
        self.cfg = cfg
        self.config_file = config_file

    @property
    def config_target(self) -> Path:
        """The file a command that writes configuration (`dta devnet up`) writes."""
        return self.config_file or self.cfg.data_dir / config_mod.CONFIG_FILE


pass_ctx = click.make_pass_decorator(Ctx)

passphrase_option = click.option(
    "--passphrase-file", type=click.Path(dir_okay=False, exists=True), default=None,
    help="File whose first line is the authority's passphrase, mode 0600 (else "
         "$DTA_PASSPHRASE, else a prompt on the terminal).")

json_option = click.option("--json", "as_json", is_flag=True,
                           help="Print JSON (typed values) instead of text.")


class CommandError(click.ClickException):
    """A message for the user with its exit code (dta.exitcodes)."""

    def __init__(self, message: str, code: int = exitcodes.SETUP):
        super().__init__(message)
        self.exit_code = code

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def fail(exc: BaseException | str, code: int | None = None):
    """Stop the command with `exc`'s sentence and the exit code its class maps to."""
    if isinstance(exc, str):
        raise CommandError(exc, exitcodes.USAGE if code is None else code)
    raise CommandError(str(exc), exitcodes.for_error(exc) if code is None else code) from None


def emit_json(data) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def emit(as_json: bool, data, human: Callable[[object], list[str] | str]) -> None:
    """`data` as JSON, or the lines `human(data)` makes of it."""
    if as_json:
        emit_json(data)
        return
    text = human(data)
    for line in ([text] if isinstance(text, str) else text):
        click.echo(line)


def when(ts: float | None, now: float | None = None) -> str:
    """A time for people: UTC, to the second, with how long ago."""
    if not ts:
        return "never"
    now = time.time() if now is None else now
    stamp = datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M:%SZ")
    return f"{stamp} ({age(now - ts)} ago)"


def age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def passphrase(passphrase_file: str | os.PathLike | None = None, *,
               confirm: bool = False) -> str:
    """--passphrase-file, else $DTA_PASSPHRASE, else an interactive prompt."""
    def prompt(again: bool) -> str:
        return click.prompt("Passphrase", hide_input=True, confirmation_prompt=again,
                            err=True)
    return passphrases.get(passphrase_file, prompt=prompt, confirm=confirm)


def open_signer(cfg, passphrase_file=None):
    """The authority's identity key: the existence check first, then the passphrase."""
    from dta.authority import identity
    if not identity.exists(cfg.data_dir):
        raise AuthorityError(f"no authority in {cfg.data_dir} (run `dta authority init`)")
    return identity.open_signer(cfg.data_dir, passphrase(passphrase_file))


def codes(*extra: int) -> str:
    """The `Exit codes:` epilog of a command's --help."""
    return exitcodes.epilog(*extra)


__all__ = ["CommandError", "Ctx", "USER_ERRORS", "codes", "emit", "emit_json", "fail",
           "json_option", "open_signer", "pass_ctx", "passphrase", "passphrase_option", "when"]
