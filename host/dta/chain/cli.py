"""`dta anchor ...` (run the anchorer), `dta receipt upgrade`, `dta verify`."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import click

from dtacore import note
from dtacore.errors import ProtocolError

from dta.chain import history, network as networks, receipt as receipts
from dta.chain.anchorer import Anchorer
from dta.chain.rpc import ChainError, Node
from dta.chain.store import CONFIRMED, FINAL, AnchorStore
from dta.chain.tx import Outpoint
from dta.clictx import emit_json, pass_ctx
from dta.errors import DtaError

STORE_FILE = "anchors.sqlite3"

passphrase_option = click.option(
    "--passphrase-file", type=click.Path(dir_okay=False, exists=True), default=None,
    help="Authority passphrase file (else $DTA_PASSPHRASE, else a prompt).")


def _fail(exc):
    raise click.ClickException(str(exc)) from None


def node_from(cfg, url: str | None = None) -> Node | None:
    url = url or cfg.chain.rpc_url
    if not url:
        return None
    return Node.from_url(url, cookie_file=cfg.chain.rpc_cookie or None)


def k_for(cfg, network: str) -> int:
    return cfg.chain.confirmations or networks.get(network).default_k


def open_store(cfg) -> AnchorStore:
    return AnchorStore(Path(cfg.data_dir) / STORE_FILE)


def open_anchorer(cfg, passphrase_file=None, node_url=None) -> Anchorer:
    from dta.authority import identity
    facts = identity.load_public(cfg.data_dir)
    signer = identity.load_signer(cfg.data_dir, identity.resolve_passphrase(passphrase_file))
    c = cfg.chain
    return Anchorer(open_store(cfg), signer, bytes.fromhex(facts["dta_id"]), node_from(cfg, node_url),
                    k=k_for(cfg, facts["network"]), fee_floor=c.fee_floor, fee_max=c.fee_max,
                    fee_target=c.fee_target_blocks, bump_after=c.bump_after,
                    network=facts["network"])


def feed_from_log(cfg, anchorer: Anchorer) -> int:
    """Queue the log's closed checkpoints not yet queued; returns how many were added."""
    log_db = Path(cfg.data_dir) / "log.sqlite3"
    if not log_db.exists():
        return 0
    from dta.log.cli import open_store as open_log_store
    done = [r.sequence for r in anchorer.store.all() if r.sequence is not None]
    store = open_log_store(cfg)
    try:
        added = 0
        for cp in store.checkpoints(after_seq=max(done) if done else None):
            anchorer.submit_checkpoint(cp.seq, cp.tree_size, cp.root)
            added += 1
        return added
    finally:
        store.close()


@click.group("anchor")
def cli() -> None:
    """Anchor the Birth Record and the log's checkpoints in Bitcoin (a single-use seal chain)."""


@cli.command("status")
@pass_ctx
def status_cmd(ctx):
    """Every step of the seal chain as this D-TA recorded it (no passphrase, no node)."""
    store = open_store(ctx.cfg)
    emit_json({"funding": json.loads(store.get_meta("funding") or "null"),
               "anchors": [r.as_dict() for r in store.all()]})


@cli.command("fund")
@click.option("--outpoint", default=None, help="TXID:VOUT of the output paying the identity address.")
@click.option("--from-height", type=int, default=0, help="Watch blocks from this height.")
@click.option("--node", "node_url", default=None, help="JSON-RPC URL (default: chain.rpc_url).")
@passphrase_option
@pass_ctx
def fund_cmd(ctx, outpoint, from_height, node_url, passphrase_file):
    """Record the output funding the Birth Record transaction (given, or found in blocks); once
    the Birth Record is sent, a new output tops the seal up instead."""
    try:
        a = open_anchorer(ctx.cfg, passphrase_file, node_url)
        if a.node is None:
            raise ChainError("no node configured (--node, chain.rpc_url or DTA_BITCOIN_RPC)")
        if outpoint:
            txid, _, vout = outpoint.partition(":")
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
        else:
            found = a.find_funding(from_height)
            if found is None:
                raise ChainError("no unspent, mature output pays the identity address yet")
    except (DtaError, ValueError) as exc:
        _fail(exc)
    emit_json(found.as_dict())


@cli.command("run")
@click.option("--once", is_flag=True, help="One round, then exit.")
@click.option("--interval", type=float, default=30.0, help="Seconds between rounds.")
@click.option("--node", "node_url", default=None, help="JSON-RPC URL (default: chain.rpc_url).")
@passphrase_option
@pass_ctx
def run_cmd(ctx, once, interval, node_url, passphrase_file):
    """The background anchorer: Birth Record first, then each closed log checkpoint, in order."""
    def feed(a):
        a.submit_birth()
        feed_from_log(ctx.cfg, a)

    def report(out):
        for event in out["events"]:
            click.echo(event, err=True)

    try:
        a = open_anchorer(ctx.cfg, passphrase_file, node_url)
        if once:
            feed(a)
            emit_json(a.step())
            return
        stop = threading.Event()
        try:
            a.run(stop, interval, feed=feed, on_round=report)
        except KeyboardInterrupt:
            stop.set()
    except DtaError as exc:
        _fail(exc)


@click.group("receipt")
def receipt_cli() -> None:
    """Receipts that carry their own Bitcoin evidence."""


@receipt_cli.command("upgrade")
@click.argument("receipt_file", type=click.Path(dir_okay=False, exists=True))
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Write here (default: stdout).")
@click.option("--checkpoint-height", type=int, default=None,
              help="Height of the verifier's trusted header (default: the anchor block's parent).")
@click.option("--node", "node_url", default=None, help="JSON-RPC URL (default: chain.rpc_url).")
@pass_ctx
def upgrade_cmd(ctx, receipt_file, out, checkpoint_height, node_url):
    """Fill a log receipt's `anchor` with the transaction, merkle proof and headers (or pending)."""
    from dta.authority import identity
    try:
        rec = receipts.load(Path(receipt_file).read_text())
        cp = note.parse_checkpoint(rec.get("checkpoint", ""))
        facts = identity.load_public(ctx.cfg.data_dir)
        store = open_store(ctx.cfg)
        row = next((r for r in store.all() if r.root == cp.root and r.tree_size == cp.size), None)
        if row is None:
            raise ChainError("this checkpoint was never queued for anchoring here")
        common = dict(network=facts["network"], dta_id=bytes.fromhex(facts["dta_id"]),
                      identity_pubkey=bytes.fromhex(facts["identity_pubkey"]), sequence=row.sequence)
        node = node_from(ctx.cfg, node_url)
        if row.state in (CONFIRMED, FINAL) and node is not None:
            rec["anchor"] = receipts.anchored_evidence(
                node, txid=row.txid, raw_tx=row.current["raw"], block_hash=row.block_hash,
                k=k_for(ctx.cfg, facts["network"]), checkpoint_height=checkpoint_height, **common)
        else:
            rec["anchor"] = receipts.pending_evidence(**common)
    except (DtaError, ProtocolError, ValueError) as exc:
        _fail(exc)
    text = json.dumps(rec, sort_keys=True)
    if out:
        Path(out).write_text(text + "\n")
    click.echo(json.dumps({"status": rec["anchor"]["status"], "sequence": row.sequence}))
    if not out:
        click.echo(text)


@receipt_cli.command("birth")
@click.option("--reveal", is_flag=True, help="Include the Birth Record itself (needs the passphrase).")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Write here (default: stdout).")
@click.option("--checkpoint-height", type=int, default=None,
              help="Height of the verifier's trusted header (default: the anchor block's parent).")
@click.option("--node", "node_url", default=None, help="JSON-RPC URL (default: chain.rpc_url).")
@passphrase_option
@pass_ctx
def birth_receipt_cmd(ctx, reveal, out, checkpoint_height, node_url, passphrase_file):
    """A receipt proving this D-TA's identity key anchored its id, k blocks deep."""
    from dta.authority import identity
    try:
        facts = identity.load_public(ctx.cfg.data_dir)
        row = open_store(ctx.cfg).get(0)
        node = node_from(ctx.cfg, node_url)
        if row is None or row.state not in (CONFIRMED, FINAL) or node is None:
            raise ChainError("the Birth Record is not in a block yet (dta anchor run; a node is needed)")
        record = None
        if reveal:
            record = identity.unlock(ctx.cfg.data_dir, identity.resolve_passphrase(passphrase_file)).birth.encode()
        ev = receipts.birth_evidence(
            node, network=facts["network"], dta_id=bytes.fromhex(facts["dta_id"]),
            identity_pubkey=bytes.fromhex(facts["identity_pubkey"]), txid=row.txid,
            raw_tx=row.current["raw"], block_hash=row.block_hash,
            k=k_for(ctx.cfg, facts["network"]), checkpoint_height=checkpoint_height,
            birth_record=record)
    except (DtaError, ValueError) as exc:
        _fail(exc)
    text = json.dumps(ev, sort_keys=True)
    if out:
        Path(out).write_text(text + "\n")
    else:
        click.echo(text)


@click.command("verify")
@click.argument("receipt_file", type=click.Path(dir_okay=False, exists=True), required=False)
@click.option("--checkpoint-header", default=None, help="Trusted block header (80 bytes hex).")
@click.option("--checkpoint-height", type=int, default=None, help="Height of the trusted header.")
@click.option("--node", "node_url", default=None, help="Check headers against this node instead.")
@click.option("-k", "--confirmations", "k", type=int, default=None, help="Required confirmations.")
@click.option("--dta-id", default=None, help="Expected D-TA id (hex).")
@click.option("--allow-pending", is_flag=True, help="Accept a receipt whose checkpoint is not anchored yet "
              "(the log links are still checked).")
@click.option("--history", "history_id", default=None, help="Walk the seal chain of this D-TA id.")
@click.option("--from-height", type=int, default=0, help="With --history: first block to scan.")
@pass_ctx
def verify_cmd(ctx, receipt_file, checkpoint_header, checkpoint_height, node_url, k, dta_id,
               allow_pending, history_id, from_height):
    """Check a receipt link by link with no trust in the D-TA, or walk a D-TA's anchor history."""
    try:
        if history_id:
            node = node_from(ctx.cfg, node_url)
            if node is None:
                raise ChainError("--history needs a node (--node or chain.rpc_url)")
            result = history.walk(node, bytes.fromhex(history_id), from_height=from_height)
            emit_json(result)
            if not result["ok"]:
                raise click.exceptions.Exit(1)
            return
        if not receipt_file:
            raise ChainError("give a RECEIPT file or --history DTA_ID")
        rec = receipts.load(Path(receipt_file).read_text())
        node = node_from(ctx.cfg, node_url) if node_url else None
        trusted = bytes.fromhex(checkpoint_header) if checkpoint_header else None
        if rec.get("format") == receipts.BIRTH_FORMAT:
            b = receipts.verify_birth(rec, k=k, node=node, trusted_header=trusted,
                                      trusted_height=checkpoint_height,
                                      expect_dta_id=bytes.fromhex(dta_id) if dta_id else None)
            emit_json({"valid": True, "kind": "birth", "dta_id": b.dta_id.hex(),
                       "identity_pubkey": b.identity_pubkey.hex(), "txid": b.txid,
                       "height": b.height, "confirmations": b.confirmations,
                       "revealed": b.record is not None,
                       "name": b.record.name if b.record else None})
            return
        v = receipts.verify_receipt(
            rec, k=k, node=node,
            trusted_header=bytes.fromhex(checkpoint_header) if checkpoint_header else None,
            trusted_height=checkpoint_height, allow_pending=allow_pending,
            expect_dta_id=bytes.fromhex(dta_id) if dta_id else None)
    except receipts.ReceiptInvalid as exc:
        emit_json({"valid": False, "link": exc.link, "reason": exc.reason})
        raise click.exceptions.Exit(1)
    except (DtaError, ValueError) as exc:
        _fail(exc)
    emit_json({"valid": True, "kind": "entry", "anchored": v.anchored, "leaf_index": v.leaf_index, "tree_size": v.tree_size,
               "root": v.root.hex(), "sequence": v.sequence, "txid": v.txid, "height": v.height,
               "confirmations": v.confirmations})
