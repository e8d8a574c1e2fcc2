"""`dta firmware ...`: bundles for boards."""

from __future__ import annotations

from pathlib import Path

import click

from dta.cli.context import emit_json


@click.group("firmware")
def cli() -> None:
    """Build firmware bundles."""


@cli.command("bundle")
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


@cli.command("boards")
def list_boards() -> None:
    """List the known boards."""
    from dta.firmware import boards

    for name in boards.names():
        click.echo(f"{name:<16} {boards.load(name)['description']}")
