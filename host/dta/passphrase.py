"""Where the authority's passphrase comes from: `--passphrase-file FILE` (its first line; the
file must be 0600), else `$DTA_PASSPHRASE`, else a prompt on the terminal. With none of them and
no terminal, a PassphraseError says how to give one: never a hang on a prompt nobody sees.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable

from dta.errors import PassphraseError

ENV = "DTA_PASSPHRASE"
# A passphrase file holds one line; anything this large is the wrong file.
MAX_FILE = 4096


def read_file(path: str | os.PathLike) -> str:
    """The first line of a passphrase file, refused when group or others may read it."""
    p = Path(path)
    try:
        mode = p.stat().st_mode
        with open(p, "rb") as fh:
            raw = fh.read(MAX_FILE + 1)
    except OSError as exc:
        raise PassphraseError(f"cannot read passphrase file {p}: {exc.strerror}") from None
    if mode & 0o077:
        raise PassphraseError(f"passphrase file {p} is readable by other users (mode "
                              f"{mode & 0o777:04o}): run `chmod 600 {p}`")
    if len(raw) > MAX_FILE:
        raise PassphraseError(f"passphrase file {p} is over {MAX_FILE} bytes: its first line "
                              "is the passphrase, and nothing else belongs in it")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PassphraseError(f"passphrase file {p} is not UTF-8 text") from None
    line = text.splitlines()[0] if text else ""
    if not line:
        raise PassphraseError(f"passphrase file {p} is empty: write the passphrase on its "
                              "first line")
    return line


def source(passphrase_file: str | os.PathLike | None = None, env=None,
           interactive: bool | None = None) -> str | None:
    """Which source `get` would use ("file PATH", "$DTA_PASSPHRASE", "terminal"), or None."""
    env = os.environ if env is None else env
    if passphrase_file:
        return f"file {passphrase_file}"
    if env.get(ENV):
        return f"${ENV}"
    if sys.stdin.isatty() if interactive is None else interactive:
        return "terminal"
    return None


def get(passphrase_file: str | os.PathLike | None = None, *,
        prompt: Callable[[bool], str] | None = None, confirm: bool = False) -> str:
    """The passphrase from the first source there is; `prompt(confirm)` asks on the terminal."""
    if passphrase_file:
        return read_file(passphrase_file)
    if os.environ.get(ENV):
        return os.environ[ENV]
    if prompt is None or not sys.stdin.isatty():
        raise PassphraseError(f"no passphrase: set ${ENV}, give --passphrase-file FILE (0600), "
                              "or run the command on a terminal to be asked")
    return prompt(confirm)
