"""`dta anchor ...` (run the anchorer) and `dta receipt ...` (receipts with Bitcoin evidence)."""

from __future__ import annotations

import json
import logging
import signal
import threading
from pathlib import Path

import click

from dta import exitcodes
from dta import receipt as receipts
from dta.anchor import evidence
from dta.anchor.anchorer import (
    STATUS_MALFORMED,
    STATUS_NO_NODE,
    STATUS_OK,
    STATUS_REFUSED,
    STATUS_RPC_ERROR,
    STATUS_UNREACHABLE,
    Anchorer,
)
from dta.anchor.capabilities import NodeNotReady
from dta.anchor.rpc import Node
from dta.anchor.store import CONFIRMED, FINAL, AnchorStore
from dta.anchor.tx import Outpoint
from dta.authority import identity
from dta.cli.context import (
    USER_ERRORS,
    codes,
    emit,
    fail,
    json_option,
    open_signer,
    pass_ctx,
    passphrase,
    passphrase_option,
)
from dta.datadir import DataDirLock
from dta.errors import ChainError, ConfigError, NodeUnreachable
from dta.log.store import LogStore

node_option = click.option("--node", "node_url", default=None,
                           help="JSON-RPC URL (default: chain.rpc_url).")

# What one `anchor run --once` round's node status means for the exit code.
ROUND_EXIT = {STATUS_OK: exitcodes.OK, STATUS_NO_NODE: exitcodes.OK,
              STATUS_UNREACHABLE: exitcodes.UNREACHABLE, STATUS_MALFORMED: exitcodes.UNREACHABLE,
              STATUS_RPC_ERROR: exitcodes.UNREACHABLE, STATUS_REFUSED: exitcodes.PARTIAL}
log = logging.getLogger("dta.anchor")


def _anchorer(ctx, passphrase_file, node_url) -> Anchorer:
    cfg = ctx.cfg
    facts = identity.load_public(cfg.data_dir)
    signer = open_signer(cfg, passphrase_file)
    return Anchorer.open(cfg, signer, facts, Node.from_config(cfg, node_url))


@click.group("anchor")
def cli() -> None:
    """Anchor the Birth Record and the log's checkpoints in Bitcoin (a single-use seal chain)."""


def _status_lines(d: dict) -> list[str]:
    if d["anchors"] is None:
        return ["nothing queued for anchoring yet: `dta anchor run` queues the Birth Record "
                "and every closed checkpoint"]
    f = d["funding"]
    lines = ["funding: " + (f"{f['txid']}:{f['vout']} ({f['value']} sat)" if f else
                            "none recorded yet (dta anchor fund)")]
    lines.append(f"{'STEP':<5} {'WHAT':<14} {'STATE':<12} {'HEIGHT':>7} {'CONF':>5} "
                 f"{'FEE':>7}  TXID")
    for a in d["anchors"]:
        what = "Birth Record" if a["kind"] == "birth" else f"checkpoint {a['sequence']}"
        fee = "-" if a["fee"] is None else a["fee"]
        lines.append(f"{a['step']:<5} {what:<14} {a['state']:<12} {a['height'] or '-':>7} "
                     f"{a['confirmations'] or '-':>5} {fee:>7}  {a['txid'] or '-'}")
    t = d["totals"]
    lines.append(", ".join(f"{n} {s}" for s, n in t["states"].items() if n)
                 + f"; fees spent {t['fees_sat']} sat")
    return lines


@cli.command("status", epilog=codes(exitcodes.SETUP))
@click.option("--json", "as_json", is_flag=True, help="Print JSON: every step in full.")
@pass_ctx
def status_cmd(ctx, as_json):
    """Every step of the seal chain as this D-TA recorded it (no passphrase, no node).
    Read-only: creates nothing."""
    from dta.ops.status import anchor_totals

    if not ctx.cfg.anchor_db.exists():
        emit(as_json, {"funding": None, "anchors": None, "totals": None}, _status_lines)
        return
    store = AnchorStore(ctx.cfg.anchor_db)
    try:
        rows = store.all()
        data = {"funding": json.loads(store.get_meta("funding") or "null"),
                "anchors": [r.as_dict() for r in rows], "totals": anchor_totals(rows)}
    finally:
        store.close()
    emit(as_json, data, _status_lines)


def _given_outpoint(a: Anchorer, outpoint: str) -> Outpoint:
    txid, _, vout = outpoint.partition(":")
    if not vout.isdigit() or len(txid) != 64:
        raise click.BadParameter(f"{outpoint[:80]!r} is not TXID:VOUT", param_hint="--outpoint")
    utxo = a.node.txout(txid, int(vout))
    if not utxo:
        raise ChainError(f"{outpoint} is not an unspent output")
    if bytes.fromhex(utxo["scriptPubKey"]["hex"]) != a.script:
        raise ChainError(f"{outpoint} does not pay the identity key's P2WPKH script")
    found = Outpoint(txid, int(vout), int(round(utxo["value"] * 100_000_000)))
    birth = a.store.get(0)
    if birth is None or birth.state == "pending":
        a.set_funding(found)
    else:
        a.add_funds(found)
    return found


@cli.command("fund", epilog=codes(exitcodes.CONFIG, exitcodes.PASSPHRASE,
                                  exitcodes.UNREACHABLE, exitcodes.SETUP))
@click.option("--outpoint", default=None,
              help="TXID:VOUT of the output paying the identity address.")
@click.option("--from-height", type=click.IntRange(min=0), default=0,
              help="Watch blocks from this height.")
@node_option
@passphrase_option
@json_option
@pass_ctx
def fund_cmd(ctx, outpoint, from_height, node_url, passphrase_file, as_json):
    """Record the output funding the Birth Record transaction (given, or found in blocks); once
    the Birth Record is sent, a new output tops the seal up instead."""
    a = _anchorer(ctx, passphrase_file, node_url)
    try:
        if a.node is None:
            raise ConfigError("no Bitcoin node configured: give --node URL, or set chain.rpc_url "
                              "(or $DTA_BITCOIN_RPC); `dta devnet up` sets up a local one")
        found = _given_outpoint(a, outpoint) if outpoint else a.find_funding(from_height)
        if found is None:
            raise ChainError("no unspent, mature output pays the identity address yet: send "
                             "coins to `dta authority address` (on a devnet: `dta devnet fund`)")
    finally:
        a.store.close()
    emit(as_json, found.as_dict(), lambda d: f"funding recorded: {d['txid']}:{d['vout']} "
         f"({d['value']} sat)")


def _ready(a: Anchorer, facts_network: str, once: bool) -> None:
    """Pre-flight: the node answers and can anchor for this D-TA, or say what to fix."""
    if a.node is None:
        log.warning("no Bitcoin node configured (--node, chain.rpc_url or $DTA_BITCOIN_RPC): "
                    "roots are queued and stay pending")
        return
    try:
        caps = a.node.check_ready(facts_network)
    except NodeUnreachable as exc:
        if once:
            raise
        log.warning("the node does not answer yet (%s); trying again every round", exc)
        return
    except NodeNotReady as exc:
        hint = (" (`dta devnet up` runs a local regtest node that is ready)"
                if facts_network == "regtest" else "")
        raise NodeNotReady(f"the node {a.node.rpc!r} cannot anchor for this D-TA: {exc}"
                           f"{hint}") from None
    log.info("node %s: %s, height %d, ready to anchor", a.node.rpc, caps.network, caps.height)


def _held(out: dict) -> list[dict]:
    """Anchors a refusal still holds back (pending, waiting for a block or for funds)."""
    return [a for a in out["anchors"] if a.get("refusal") and a["state"] == "pending"]


def _round_line(out: dict) -> str:
    states: dict[str, int] = {}
    for row in out["anchors"]:
        states[row["state"]] = states.get(row["state"], 0) + 1
    return (f"round done: node {out['node']}; {len(out['anchors'])} anchors ("
            + ", ".join(f"{n} {s}" for s, n in sorted(states.items())) + ")"
            + (f"; {len(out.get('refusals') or [])} refused by the node"
               if out.get("refusals") else "")
            + (f"; {len(_held(out))} held back by an earlier refusal" if _held(out)
               and not out.get("refusals") else ""))


@cli.command("run", epilog=codes(exitcodes.CONFIG, exitcodes.PASSPHRASE, exitcodes.UNREACHABLE,
                                 exitcodes.PARTIAL, exitcodes.SETUP, exitcodes.BUSY))
@click.option("--once", is_flag=True, help="One round, then exit (non-zero if the node was "
              "unreachable or refused a transaction).")
@click.option("--interval", type=click.FloatRange(min=0.1), default=30.0,
              help="Seconds between rounds.")
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=None,
              help="Serve Prometheus metrics here (default: [metrics] anchor_port; 0 = off).")
@node_option
@passphrase_option
@json_option
@pass_ctx
def run_cmd(ctx, once, interval, metrics_port, node_url, passphrase_file, as_json):
    """The background anchorer: Birth Record first, then each closed log checkpoint, in order.
    Checks at start that the node can anchor (network, transaction index, segwit) and says
    what to fix when it cannot."""
    def feed(a: Anchorer) -> None:
        if ctx.cfg.log_db.exists():
            with LogStore.open(ctx.cfg) as store:
                a.queue_from(store)
        else:
            a.submit_birth()

    with DataDirLock(ctx.cfg.data_dir, "anchor"):
        a = _anchorer(ctx, passphrase_file, node_url)
        try:
            _ready(a, identity.load_public(ctx.cfg.data_dir).network, once)
            if once:
                feed(a)
                out = a.step()
                emit(as_json, out, _round_line)
                code = ROUND_EXIT.get(out["node"], exitcodes.PARTIAL)
                if code == exitcodes.OK and _held(out):
                    code = exitcodes.PARTIAL  # still waiting on an earlier refusal
            else:
                code = _forever(ctx, a, feed, interval, metrics_port)
        finally:
            a.store.close()
    if code:
        raise SystemExit(code)


def _forever(ctx, a: Anchorer, feed, interval: float, metrics_port: int | None) -> int:
    port = ctx.cfg.metrics.anchor_port if metrics_port is None else metrics_port
    server = None
    if port:
        from dta.ops import metrics
        server = metrics.serve(metrics.AnchorCollector(a), ctx.cfg.metrics.host, port)
        log.info("metrics on http://%s:%d/metrics", ctx.cfg.metrics.host, server.port)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    log.info("anchorer running: a round every %g s", interval)
    try:
        a.run(stop, interval, feed=feed)
    finally:
        if server is not None:
            server.close()
    log.info("anchorer stopped")
    return exitcodes.OK


@click.group("receipt")
def receipt_cli() -> None:
    """Receipts that carry their own Bitcoin evidence."""


def _write(text: str, out: str | None) -> None:
    if out:
        Path(out).write_text(text + "\n")
    else:
        click.echo(text)


@receipt_cli.command("upgrade", epilog=codes(exitcodes.UNREACHABLE, exitcodes.SETUP))
@click.argument("receipt_file", type=click.Path(dir_okay=False, exists=True))
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Write here (default: stdout).")
@click.option("--checkpoint-height", type=int, default=None,
              help="Height of the verifier's trusted header (default: the anchor block's parent).")
@node_option
@pass_ctx
def upgrade_cmd(ctx, receipt_file, out, checkpoint_height, node_url):
    """Fill a log receipt's `anchor` with the transaction, merkle proof and headers (or pending)."""
    try:
        rec = receipts.parse(Path(receipt_file).read_bytes(), f"receipt {receipt_file}")
        if not isinstance(rec, receipts.Receipt):
            raise ChainError(f"{receipt_file} is a birth receipt, not a log receipt")
        facts = identity.load_public(ctx.cfg.data_dir)
        # the log proves a checkpoint the anchor window skipped extends the anchored one
        log = LogStore.open(ctx.cfg) if ctx.cfg.log_db.exists() else None
        upgraded = evidence.upgrade(rec, anchors=AnchorStore(ctx.cfg.anchor_db), log_store=log,
                                    node=Node.from_config(ctx.cfg, node_url), facts=facts,
                                    k=ctx.cfg.chain.k_for(facts.network),
                                    checkpoint_height=checkpoint_height)
    except USER_ERRORS as exc:
        fail(exc)
    if out:
        _write(upgraded.to_json(), out)
    click.echo(json.dumps({"status": upgraded.anchor.status, "sequence": upgraded.anchor.sequence,
                           "consistency": upgraded.consistency is not None}))
    if not out:
        click.echo(upgraded.to_json())


@receipt_cli.command("birth", epilog=codes(exitcodes.PASSPHRASE, exitcodes.UNREACHABLE,
                                                exitcodes.SETUP))
@click.option("--reveal", is_flag=True,
              help="Include the Birth Record itself (needs the passphrase).")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Write here (default: stdout).")
@click.option("--checkpoint-height", type=int, default=None,
              help="Height of the verifier's trusted header (default: the anchor block's parent).")
@node_option
@passphrase_option
@pass_ctx
def birth_receipt_cmd(ctx, reveal, out, checkpoint_height, node_url, passphrase_file):
    """A receipt proving this D-TA's identity key anchored its id, k blocks deep."""
    try:
        facts = identity.load_public(ctx.cfg.data_dir)
        row = AnchorStore(ctx.cfg.anchor_db).get(0)
        node = Node.from_config(ctx.cfg, node_url)
        if row is None or row.state not in (CONFIRMED, FINAL) or node is None:
            raise ChainError("the Birth Record is not in a block yet (dta anchor run; a node is "
                             "needed)")
        record = None
        if reveal:
            record = identity.unlock(ctx.cfg.data_dir, passphrase(passphrase_file)).record
        rec = evidence.birth(node, facts, record, txid=row.txid,
                             raw_tx=bytes.fromhex(row.current["raw"]), block_hash=row.block_hash,
                             k=ctx.cfg.chain.k_for(facts.network),
                             checkpoint_height=checkpoint_height)
    except USER_ERRORS as exc:
        fail(exc)
    _write(rec.to_json(), out)
