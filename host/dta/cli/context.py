"""What every `dta` command shares: the context object, the passphrase, JSON output and the
one way a command turns a library error into a message for the user."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from dta import config as config_mod
from dta.errors import USER_ERRORS, AuthorityError

PASSPHRASE_ENV = "DTA_PASSPHRASE"


class Ctx:
    """What every command receives: the loaded configuration."""

    def __init__(self, cfg: config_mod.Config):
        self.cfg = cfg


pass_ctx = click.make_pass_decorator(Ctx)

passphrase_option = click.option(
    "--passphrase-file", type=click.Path(dir_okay=False, exists=True), default=None,
    help="File whose first line is the authority's passphrase (else $DTA_PASSPHRASE, else a "
         "prompt).")


def emit_json(data) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def fail(exc: BaseException):
    """Raise the CLI's error for a library error (the message is the error's own sentence)."""
    raise click.ClickException(str(exc)) from None


def passphrase(passphrase_file: str | os.PathLike | None = None, *, confirm: bool = False) -> str:
    """--passphrase-file, else $DTA_PASSPHRASE, else an interactive prompt."""
    if passphrase_file:
        try:
            text = Path(passphrase_file).read_bytes().decode("utf-8")
        except OSError as exc:
            raise AuthorityError(f"cannot read passphrase file {passphrase_file}: "
                                 f"{exc.strerror}") from None
        except UnicodeDecodeError:
            raise AuthorityError(f"passphrase file {passphrase_file} is not UTF-8 text") \
                from None
        return text.splitlines()[0] if text else ""
    if os.environ.get(PASSPHRASE_ENV):
        return os.environ[PASSPHRASE_ENV]
    if not sys.stdin.isatty():
        raise AuthorityError(f"no passphrase: set ${PASSPHRASE_ENV}, give --passphrase-file, or "
                             "run the command on a terminal to be asked")
    return click.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm)


def open_signer(cfg, passphrase_file=None):
    """The authority's identity key: the existence check first, then the passphrase."""
    from dta.authority import identity
    if not identity.exists(cfg.data_dir):
        raise AuthorityError(f"no authority in {cfg.data_dir} (run `dta authority init`)")
    return identity.open_signer(cfg.data_dir, passphrase(passphrase_file))


__all__ = ["Ctx", "USER_ERRORS", "emit_json", "fail", "open_signer", "pass_ctx", "passphrase",
           "passphrase_option"]
