"""`dta status` (one look at the D-TA) and `dta doctor` (what to fix in its set-up)."""

from __future__ import annotations

import click

from dta import exitcodes
from dta.anchor.rpc import Node
from dta.cli.context import age, codes, emit, json_option, pass_ctx, passphrase_option
from dta.ops import doctor, status

node_option = click.option("--node", "node_url", default=None,
                           help="JSON-RPC URL (default: chain.rpc_url).")


def _service_lines(d: dict) -> list[str]:
    lines = []
    b = d["broker"]
    if b is not None:
        who = f" as {b['username']}" if b["username"] else ""
        lines.append(f"broker    {b['url']}{who}: " + ("answers" if b["reachable"] else
                                                       f"NOT REACHABLE ({b['error']})"))
    n = d["node"]
    if not n["configured"]:
        lines.append("node      none configured: roots stay pending (chain.rpc_url)")
    elif n["reachable"]:
        lines.append(f"node      {n['url']}: {n['network']}, height {n['height']}")
    else:
        lines.append(f"node      {n['url']}: NOT REACHABLE ({n['error']})")
    for role, name in (("gateway", "gateway "), ("anchor", "anchorer")):
        pid = d["processes"][role]
        lines.append(f"{name}  " + (f"running (pid {pid})" if pid else "not running"))
    return lines


def _store_lines(d: dict) -> list[str]:
    log = d["log"]
    cp = log["last_checkpoint"]
    lines = [f"log       {log['tree_size']} entries; " + (
        "no checkpoint yet" if cp is None else
        f"last checkpoint #{cp['seq']} ({cp['tree_size']} entries) {age(cp['age_seconds'])} ago")]
    a = d["anchors"]
    states = ", ".join(f"{n} {s}" for s, n in a["states"].items() if n) or "none yet"
    lines.append(f"anchors   {states}; fees spent {a['fees_sat']} sat"
                 + (f", {a['fees_in_flight_sat']} sat in flight" if a["fees_in_flight_sat"]
                    else ""))
    r = d["registry"]
    lines.append("devices   " + ", ".join(f"{n} {s}" for s, n in r["devices"].items()))
    if r["refusals"]:
        lines.append("refused   " + ", ".join(f"{k} {v}" for k, v in sorted(
            r["refusals"].items())))
    return lines


def _human(d: dict) -> list[str]:
    a = d["authority"]
    head = (f"D-TA '{a['name']}' ({a['dta_id'][:16]}...) on {a['network']}, data directory "
            f"{d['data_dir']}" if a["present"] else f"no authority: {a['error']}")
    lines = [head] + _service_lines(d) + _store_lines(d)
    return lines + [f"PROBLEM: {p}" for p in d["problems"]]


@click.command("status", epilog=codes(exitcodes.PARTIAL, exitcodes.CONFIG))
@node_option
@click.option("--no-broker", is_flag=True, help="Do not try to connect to the broker.")
@json_option
@pass_ctx
def status_cmd(ctx, node_url, no_broker, as_json):
    """The D-TA at a glance: authority, broker and node reachable, node height and network,
    log size and last checkpoint's age, anchors and fees, devices by state, refused frames.
    Read-only. Exit 7 when a configured service does not answer."""
    snap = status.snapshot(ctx.cfg, Node.from_config(ctx.cfg, node_url), broker=not no_broker)
    snap["problems"] = status.problems(snap)
    emit(as_json, snap, _human)
    if snap["problems"]:
        raise SystemExit(exitcodes.PARTIAL)


def _doctor_lines(checks: list[dict]) -> list[str]:
    marks = {doctor.OK: "ok  ", doctor.WARN: "WARN", doctor.FAIL: "FAIL"}
    lines = []
    for c in checks:
        lines.append(f"{marks[c['status']]}  {c['name']}: {c['found']}")
        if c["fix"]:
            lines.append(f"      fix: {c['fix']}")
    failed = sum(c["status"] == doctor.FAIL for c in checks)
    warned = sum(c["status"] == doctor.WARN for c in checks)
    lines.append(f"{len(checks)} checks: {failed} failed, {warned} warnings")
    return lines


@click.command("doctor", epilog=codes(exitcodes.PARTIAL, exitcodes.CONFIG))
@node_option
@passphrase_option
@json_option
@pass_ctx
def doctor_cmd(ctx, node_url, passphrase_file, as_json):
    """Check the set-up and say what to fix: permissions of secret files, passphrase source,
    broker and credentials, node (network, transaction index, segwit), ports, clock. Changes
    nothing. Exit 7 when a check fails."""
    checks = [c.as_dict() for c in doctor.run(ctx.cfg, Node.from_config(ctx.cfg, node_url),
                                              passphrase_file)]
    emit(as_json, {"checks": checks}, lambda d: _doctor_lines(d["checks"]))
    if any(c["status"] == doctor.FAIL for c in checks):
        raise SystemExit(exitcodes.PARTIAL)
