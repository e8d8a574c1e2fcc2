"""`dta firmware ...`: bundles for boards."""

from __future__ import annotations

from pathlib import Path

import click

from dta import exitcodes
from dta.cli.context import codes, emit_json


@click.group("firmware")
def cli() -> None:
    """Build firmware bundles."""


@cli.command("bundle", epilog=codes(exitcodes.CONFIG))
@click.option("--board", required=True, help="Board name (see `dta firmware boards`).")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Output directory (default: build/<board>).")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
def bundle(board: str, out: str | None, as_json: bool) -> None:
    """Compile the firmware for BOARD into a directory of files to copy onto the device."""
    from dta.firmware.bundle import build

    result = build(board, Path(out or f"build/{board}"))
    if as_json:
        emit_json({"board": result.board, "root": str(result.root), "files": result.files})
    else:
        click.echo(f"bundle for {board}: {len(result.files)} files in {result.root}")


@cli.command("boards", epilog=codes())
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_boards(as_json: bool) -> None:
    """List the known boards."""
    from dta.firmware import boards

    known = {name: boards.load(name)["description"] for name in boards.names()}
    if as_json:
        emit_json({"boards": known})
        return
    for name, description in known.items():
        click.echo(f"{name:<16} {description}")
