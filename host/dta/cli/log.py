"""`dta log ...`: append entries, inspect the tree, close checkpoints, and make or check proofs."""

from __future__ import annotations

import sys

import click

from dta import receipt as receipts
from dta.authority import identity
from dta.cli.context import USER_ERRORS, emit_json, fail, open_signer, pass_ctx, passphrase_option
from dta.log.service import Log
from dta.log.store import LogStore
from dta.verify import LinkError, verify_log_receipt
from dtacore import entries, merkle


def _open_log(ctx, passphrase_file) -> Log:
    return Log.open(ctx.cfg, open_signer(ctx.cfg, passphrase_file))


def _entry_json(data: bytes) -> dict:
    e = entries.decode(data)
    out = {"type": type(e).__name__}
    for k, v in sorted(vars(e).items()):
        out[k] = v.hex() if isinstance(v, (bytes, bytearray)) else v
    return out


@click.group("log")
def cli() -> None:
    """The transparency log: RFC 9162 Merkle tree of shares and device events."""


@cli.command("append")
@click.argument("entry_hex", nargs=-1, required=True)
@passphrase_option
@pass_ctx
def append_cmd(ctx, entry_hex, passphrase_file):
    """Append canonical entries (hex, see docs/log.md) durably, in one transaction."""
    try:
        data = [bytes.fromhex(h) for h in entry_hex]
    except ValueError as exc:
        fail(f"an entry is not hex: {exc}")
    try:
        for d in data:
            entries.decode(d)
        log = _open_log(ctx, passphrase_file)
        idx = log.append_many(data)
        emit_json({"indices": list(idx), "tree_size": log.store.size,
                   "root": log.store.root().hex()})
    except USER_ERRORS as exc:
        fail(exc)


@cli.command("show")
@click.argument("index", type=int, required=False)
@pass_ctx
def show_cmd(ctx, index):
    """Tree head and last checkpoint, or one entry decoded."""
    try:
        with LogStore.open(ctx.cfg) as store:
            if index is not None:
                data = store.entry(index)
                emit_json({"index": index, "leaf_hash": store.leaf_hash(index).hex(),
                           "hex": data.hex(), "entry": _entry_json(data)})
                return
            last = store.last_checkpoint()
            emit_json({"origin": store.origin, "tree_size": store.size,
                       "root": store.root().hex(),
                       "last_checkpoint": None if last is None else {
                           "seq": last.seq, "tree_size": last.tree_size,
                           "root": last.root.hex(), "created_at": last.created_at,
                           "note": last.note}})
    except USER_ERRORS as exc:
        fail(exc)


@cli.command("checkpoint")
@click.option("--if-due", is_flag=True, help="Only close one if the window or count says so.")
@passphrase_option
@pass_ctx
def checkpoint_cmd(ctx, if_due, passphrase_file):
    """Close a checkpoint over the current tree and print its signed note (none when the tree
    has not grown since the last one)."""
    try:
        log = _open_log(ctx, passphrase_file)
        last = log.store.last_checkpoint()
        rec = log.maybe_checkpoint() if if_due else log.checkpoint()
    except USER_ERRORS as exc:
        fail(exc)
    if rec is None or (last is not None and rec.seq == last.seq):
        emit_json({"closed": False, "tree_size": log.store.size})
        return
    emit_json({"closed": True, "seq": rec.seq, "tree_size": rec.tree_size,
               "root": rec.root.hex(), "note": rec.note})


@cli.command("prove")
@click.argument("index", type=int)
@click.option("--seq", type=int, default=None, help="Checkpoint to prove against "
              "(default: the first that covers the entry).")
@pass_ctx
def prove_cmd(ctx, index, seq):
    """Print the receipt for an entry: entry + inclusion proof + signed checkpoint (JSON)."""
    try:
        with LogStore.open(ctx.cfg) as store:
            click.echo(store.receipt(index, seq).to_json())
    except USER_ERRORS as exc:
        fail(exc)


@cli.command("consistency")
@click.argument("size1", type=int)
@click.argument("size2", type=int, required=False)
@pass_ctx
def consistency_cmd(ctx, size1, size2):
    """Consistency proof from tree size1 to size2 (default: current size)."""
    try:
        with LogStore.open(ctx.cfg) as store:
            size2 = store.size if size2 is None else size2
            path = store.consistency_proof(size1=size1, size2=size2)
            emit_json({"size1": size1, "size2": size2, "root1": store.root(size1).hex(),
                       "root2": store.root(size2).hex(),
                       "proof": merkle.encode_consistency(size1=size1, size2=size2,
                                                          path=path).hex()})
    except USER_ERRORS as exc:
        fail(exc)


@cli.command("verify")
@click.argument("receipt", type=click.File("rb"), required=False)
@click.option("--pubkey", default=None, help="Checkpoint key (hex, 33 bytes; default: this "
              "D-TA's).")
@click.option("--key-name", default=None, help="Signature line name (default: the origin).")
@click.option("--store", "check_store", is_flag=True,
              help="Instead: re-hash the whole local store and check every node.")
@pass_ctx
def verify_cmd(ctx, receipt, pubkey, key_name, check_store):
    """Verify a receipt (file or - for stdin) offline, or the whole local store (--store)."""
    try:
        if check_store:
            with LogStore.open(ctx.cfg) as store:
                emit_json({"ok": True, "entries": store.verify_integrity()})
            return
        rec = receipts.parse((receipt or sys.stdin.buffer).read(), "receipt")
        if not isinstance(rec, receipts.Receipt):
            fail("this is a birth receipt: check it with `dta verify`")
        pub = _pubkey(pubkey) if pubkey else identity.public_key(ctx.cfg.data_dir)
        entry, proof, cp = verify_log_receipt(rec, pub, key_name or ctx.cfg.log.origin)
    except LinkError as exc:
        click.echo(f"error: the receipt does not verify: {exc.link}: {exc.reason}", err=True)
        sys.exit(1)
    except USER_ERRORS as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    emit_json({"ok": True, "index": proof.index, "tree_size": cp.size, "root": cp.root.hex(),
               "entry": _entry_json(rec.entry)})


def _pubkey(text: str) -> bytes:
    try:
        pub = bytes.fromhex(text)
    except ValueError:
        fail("--pubkey is not hex: give the 33-byte compressed key as 66 hex digits")
    if len(pub) != 33:
        fail(f"--pubkey is {len(pub)} bytes: give the 33-byte compressed key")
    return pub
