"""`dta devnet up | down | status | fund`: a private broker and regtest node for this data
directory, written into its configuration (dta.services.devnet)."""

from __future__ import annotations

import click

from dta import config as config_mod
from dta import exitcodes
from dta.anchor import address as addr
from dta.authority import identity
from dta.cli.context import codes, emit, json_option, pass_ctx
from dta.services.devnet import Devnet


@click.group("devnet")
def cli() -> None:
    """Local services for a D-TA on this machine: mosquitto (authenticated) and a bcoin
    regtest node, under <data dir>/devnet/, kept running between commands."""


def _devnet(ctx) -> Devnet:
    return Devnet(ctx.cfg.data_dir, ctx.cfg.mqtt.topic_prefix)


def _status_lines(d: dict) -> list[str]:
    lines = [f"devnet in {d['directory']}"]
    for name in ("broker", "node"):
        s = d[name]
        state = (f"running (pid {s['pid']}) on 127.0.0.1:{s['port']}" if s["running"]
                 else "stopped")
        if s["running"] and not s["answers"]:
            state += ", NOT ANSWERING"
        if name == "node" and s.get("height") is not None:
            state += f", height {s['height']}"
        lines.append(f"  {name:<6} {state}")
    return lines


@cli.command("up", epilog=codes(exitcodes.CONFIG, exitcodes.UNREACHABLE))
@json_option
@pass_ctx
def up_cmd(ctx, as_json):
    """Start the broker and the node (if they are not running), mine the node past bcoin's
    segwit height, and write their addresses and credentials into the configuration file."""
    net = _devnet(ctx)
    started = net.up()
    target = ctx.config_target
    config_mod.update_file(target, net.config_updates())
    out = dict(net.status(), started=started, config_file=str(target))
    emit(as_json, out, lambda d: _status_lines(d) + [
        ("started " + " and ".join(started) if started else "already running"),
        f"configuration written to {target} ([mqtt] and [chain]: credentials in 0600 files "
        f"under {d['directory']})",
        "next: `dta authority init --name NAME`, `dta devnet fund`, `dta gateway run`"])


@cli.command("down", epilog=codes())
@json_option
@pass_ctx
def down_cmd(ctx, as_json):
    """Stop the broker and the node by PID (the chain and the credentials stay for `up`)."""
    stopped = _devnet(ctx).down()
    emit(as_json, {"stopped": stopped}, lambda d: "stopped " + " and ".join(stopped)
         if stopped else "nothing was running")


@cli.command("status", epilog=codes())
@json_option
@pass_ctx
def status_cmd(ctx, as_json):
    """Whether the broker and the node run and answer."""
    emit(as_json, _devnet(ctx).status(), _status_lines)


@cli.command("fund", epilog=codes(exitcodes.UNREACHABLE, exitcodes.SETUP))
@json_option
@pass_ctx
def fund_cmd(ctx, as_json):
    """Mine a block paying the authority's identity address (in the address form the node
    takes) and let it mature; `dta anchor fund` then records it."""
    facts = identity.load_public(ctx.cfg.data_dir)
    net = _devnet(ctx)
    start = net.node().height() if net.running("node") else 0
    found = net.fund(addr.p2wpkh_script(facts.identity_pubkey))
    out = dict(found.as_dict(), from_height=start)
    emit(as_json, out, lambda d: [
        f"mined {d['value']} sat to the identity key: {d['txid']}:{d['vout']}",
        f"next: `dta anchor fund --from-height {start}`, then `dta anchor run`"])
