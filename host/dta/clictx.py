"""What every `dta` command shares: the context object and JSON output."""

from __future__ import annotations

import json

import click

from dta import config as config_mod


class Ctx:
    """What every command receives: the loaded configuration."""

    def __init__(self, cfg: config_mod.Config):
        self.cfg = cfg


pass_ctx = click.make_pass_decorator(Ctx)


def emit_json(data) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
