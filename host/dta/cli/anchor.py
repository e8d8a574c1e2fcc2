"""`dta anchor ...` (run the anchorer) and `dta receipt ...` (receipts with Bitcoin evidence)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import click

from dta import receipt as receipts
from dta.anchor import evidence
from dta.anchor.anchorer import Anchorer
from dta.anchor.rpc import Node
from dta.anchor.store import CONFIRMED, FINAL, AnchorStore
from dta.anchor.tx import Outpoint
from dta.authority import identity
from dta.cli.context import (
    USER_ERRORS,
    emit_json,
    fail,
    open_signer,
    pass_ctx,
    passphrase,
    passphrase_option,
)
from dta.errors import ChainError
from dta.log.store import LogStore
from dtacore import note

node_option = click.option("--node", "node_url", default=None,
                           help="JSON-RPC URL (default: chain.rpc_url).")


def _anchorer(ctx, passphrase_file, node_url) -> Anchorer:
    cfg = ctx.cfg
    facts = identity.load_public(cfg.data_dir)
    signer = open_signer(cfg, passphrase_file)
    return Anchorer.open(cfg, signer, facts, Node.from_config(cfg, node_url))


@click.group("anchor")
def cli() -> None:
    """Anchor the Birth Record and the log's checkpoints in Bitcoin (a single-use seal chain)."""


@cli.command("status")
@pass_ctx
def status_cmd(ctx):
    """Every step of the seal chain as this D-TA recorded it (no passphrase, no node)."""
    store = AnchorStore(ctx.cfg.anchor_db)
    emit_json({"funding": json.loads(store.get_meta("funding") or "null"),
               "anchors": [r.as_dict() for r in store.all()]})


def _given_outpoint(a: Anchorer, outpoint: str) -> Outpoint:
    txid, _, vout = outpoint.partition(":")
    if not vout.isdigit():
        raise ChainError(f"--outpoint {outpoint!r} is not TXID:VOUT")
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


@cli.command("fund")
@click.option("--outpoint", default=None,
              help="TXID:VOUT of the output paying the identity address.")
@click.option("--from-height", type=int, default=0, help="Watch blocks from this height.")
@node_option
@passphrase_option
@pass_ctx
def fund_cmd(ctx, outpoint, from_height, node_url, passphrase_file):
    """Record the output funding the Birth Record transaction (given, or found in blocks); once
    the Birth Record is sent, a new output tops the seal up instead."""
    try:
        a = _anchorer(ctx, passphrase_file, node_url)
        if a.node is None:
            raise ChainError("no node configured (--node, chain.rpc_url or DTA_BITCOIN_RPC)")
        found = _given_outpoint(a, outpoint) if outpoint else a.find_funding(from_height)
        if found is None:
            raise ChainError("no unspent, mature output pays the identity address yet")
    except USER_ERRORS as exc:
        fail(exc)
    emit_json(found.as_dict())


@cli.command("run")
@click.option("--once", is_flag=True, help="One round, then exit.")
@click.option("--interval", type=float, default=30.0, help="Seconds between rounds.")
@node_option
@passphrase_option
@pass_ctx
def run_cmd(ctx, once, interval, node_url, passphrase_file):
    """The background anchorer: Birth Record first, then each closed log checkpoint, in order."""
    def feed(a: Anchorer) -> None:
        if ctx.cfg.log_db.exists():
            with LogStore.open(ctx.cfg) as store:
                a.queue_from(store)
        else:
            a.submit_birth()

    def report(out):
        for event in out["events"]:
            click.echo(event, err=True)

    try:
        a = _anchorer(ctx, passphrase_file, node_url)
        if once:
            feed(a)
            emit_json(a.step())
            return
        stop = threading.Event()
        try:
            a.run(stop, interval, feed=feed, on_round=report)
        except KeyboardInterrupt:
            stop.set()
    except USER_ERRORS as exc:
        fail(exc)


@click.group("receipt")
def receipt_cli() -> None:
    """Receipts that carry their own Bitcoin evidence."""


def _write(text: str, out: str | None) -> None:
    if out:
        Path(out).write_text(text + "\n")
    else:
        click.echo(text)


@receipt_cli.command("upgrade")
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
        cp = note.parse_checkpoint(rec.checkpoint)
        facts = identity.load_public(ctx.cfg.data_dir)
        row = next((r for r in AnchorStore(ctx.cfg.anchor_db).all()
                    if r.root == cp.root and r.tree_size == cp.size), None)
        if row is None:
            raise ChainError("this checkpoint was never queued for anchoring here")
        node = Node.from_config(ctx.cfg, node_url)
        if row.state in (CONFIRMED, FINAL) and node is not None:
            ev = evidence.anchored(node, facts, row.sequence, txid=row.txid,
                                   raw_tx=bytes.fromhex(row.current["raw"]),
                                   block_hash=row.block_hash, k=ctx.cfg.chain.k_for(facts.network),
                                   checkpoint_height=checkpoint_height)
        else:
            ev = evidence.pending(facts, row.sequence)
    except USER_ERRORS as exc:
        fail(exc)
    upgraded = receipts.Receipt(rec.entry, rec.proof, rec.checkpoint, ev)
    if out:
        _write(upgraded.to_json(), out)
    click.echo(json.dumps({"status": ev.status, "sequence": row.sequence}))
    if not out:
        click.echo(upgraded.to_json())


@receipt_cli.command("birth")
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
