"""`dta verify`: check a receipt link by link with no trust in the D-TA, or walk a D-TA's
anchor history."""

from __future__ import annotations

from pathlib import Path

import click

from dta import receipt as receipts
from dta.anchor import history
from dta.anchor.rpc import Node
from dta.cli.context import USER_ERRORS, emit_json, fail, pass_ctx
from dta.errors import ChainError
from dta.verify import LinkError, TrustRoot, verify_birth, verify_receipt


def _hex_option(value: str | None, name: str, size: int | None = None) -> bytes | None:
    if value is None:
        return None
    try:
        out = bytes.fromhex(value)
    except ValueError:
        fail(f"{name} is not hex")
    if size is not None and len(out) != size:
        fail(f"{name} must be {size} bytes ({2 * size} hex digits), got {len(out)}")
    return out


def _history(ctx, history_id: str, node_url: str | None, from_height: int) -> None:
    node = Node.from_config(ctx.cfg, node_url)
    if node is None:
        fail(ChainError("--history needs a node (--node or chain.rpc_url)"))
    try:
        result = history.walk(node, _hex_option(history_id, "--history", 32),
                              from_height=from_height)
    except USER_ERRORS as exc:
        fail(exc)
    emit_json(result)
    if not result["ok"]:
        raise click.exceptions.Exit(1)


def _birth_json(b) -> dict:
    return {"valid": True, "kind": "birth", "dta_id": b.dta_id.hex(),
            "identity_pubkey": b.identity_pubkey.hex(), "txid": b.txid, "height": b.height,
            "confirmations": b.confirmations, "revealed": b.record is not None,
            "name": b.record.name if b.record else None}


def _entry_json(v) -> dict:
    return {"valid": True, "kind": "entry", "anchored": v.anchored, "leaf_index": v.leaf_index,
            "tree_size": v.tree_size, "root": v.root.hex(), "sequence": v.sequence,
            "txid": v.txid, "height": v.height, "confirmations": v.confirmations}


@click.command("verify")
@click.argument("receipt_file", type=click.Path(dir_okay=False, exists=True), required=False)
@click.option("--checkpoint-header", default=None, help="Trusted block header (80 bytes hex).")
@click.option("--checkpoint-height", type=int, default=None, help="Height of the trusted header.")
@click.option("--node", "node_url", default=None, help="Check headers against this node instead.")
@click.option("-k", "--confirmations", "k", type=int, default=None,
              help="Required confirmations.")
@click.option("--dta-id", default=None, help="Expected D-TA id (hex).")
@click.option("--allow-pending", is_flag=True, help="Accept a receipt whose checkpoint is not "
              "anchored yet (the log links are still checked).")
@click.option("--history", "history_id", default=None, help="Walk the seal chain of this D-TA id.")
@click.option("--from-height", type=int, default=0, help="With --history: first block to scan.")
@pass_ctx
def verify_cmd(ctx, receipt_file, checkpoint_header, checkpoint_height, node_url, k, dta_id,
               allow_pending, history_id, from_height):
    """Check a receipt link by link with no trust in the D-TA, or walk a D-TA's anchor history."""
    if history_id:
        _history(ctx, history_id, node_url, from_height)
        return
    if not receipt_file:
        fail(ChainError("give a RECEIPT file or --history DTA_ID"))
    root = TrustRoot(_hex_option(checkpoint_header, "--checkpoint-header", 80),
                     checkpoint_height, Node.from_config(ctx.cfg, node_url) if node_url else None)
    expect = _hex_option(dta_id, "--dta-id", 32)
    try:
        rec = receipts.parse(Path(receipt_file).read_bytes(), f"receipt {receipt_file}")
        if isinstance(rec, receipts.BirthReceipt):
            emit_json(_birth_json(verify_birth(rec, root, k=k, expect_dta_id=expect)))
            return
        v = verify_receipt(rec, root, k=k, allow_pending=allow_pending, expect_dta_id=expect)
    except LinkError as exc:
        emit_json({"valid": False, "link": exc.link, "reason": exc.reason})
        raise click.exceptions.Exit(1) from None
    except USER_ERRORS as exc:
        fail(exc)
    emit_json(_entry_json(v))
