"""`dta log ...`: append entries, inspect the tree, close checkpoints, and make or check proofs."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from dtacore import entries, merkle
from dtacore.errors import ProtocolError

from dta.cli import emit_json, pass_ctx
from dta.errors import DtaError
from dta.log import keys
from dta.log.receipt import Receipt, make_receipt, verify_receipt
from dta.log.service import Log
from dta.log.store import LogStore
from dta.log.tree import TreeError

DB_FILE = "log.sqlite3"

passphrase_option = click.option(
    "--passphrase-file", type=click.Path(dir_okay=False, exists=True), default=None,
    help="Authority passphrase file (only when an authority is set up; else $DTA_PASSPHRASE).")


def open_store(cfg) -> LogStore:
    Path(cfg.data_dir).mkdir(parents=True, exist_ok=True)
    return LogStore(Path(cfg.data_dir) / DB_FILE, origin=cfg.log.origin)


def open_log(cfg, passphrase_file=None) -> Log:
    return Log(open_store(cfg), keys.load_signer(cfg.data_dir, passphrase_file),
               window_seconds=cfg.log.window_seconds, max_entries=cfg.log.max_entries)


def _fail(exc):
    raise click.ClickException(str(exc)) from None


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
        for d in data:
            entries.decode(d)
        log = open_log(ctx.cfg, passphrase_file)
        idx = log.append_many(data)
        emit_json({"indices": list(idx), "tree_size": log.store.size,
                   "root": log.store.root().hex()})
    except ValueError as exc:
        _fail(f"not hex: {exc}")
    except (DtaError, ProtocolError) as exc:
        _fail(exc)


@cli.command("show")
@click.argument("index", type=int, required=False)
@pass_ctx
def show_cmd(ctx, index):
    """Tree head and last checkpoint, or one entry decoded."""
    try:
        with open_store(ctx.cfg) as store:
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
    except (DtaError, ProtocolError) as exc:
        _fail(exc)


@cli.command("checkpoint")
@click.option("--if-due", is_flag=True, help="Only close one if the window or count says so.")
@passphrase_option
@pass_ctx
def checkpoint_cmd(ctx, if_due, passphrase_file):
    """Close a checkpoint over the current tree and print its signed note."""
    try:
        log = open_log(ctx.cfg, passphrase_file)
        rec = log.maybe_checkpoint() if if_due else log.checkpoint()
        if rec is None:
            emit_json({"closed": False, "tree_size": log.store.size})
            return
        emit_json({"closed": True, "seq": rec.seq, "tree_size": rec.tree_size,
                   "root": rec.root.hex(), "note": rec.note})
    except DtaError as exc:
        _fail(exc)


@cli.command("prove")
@click.argument("index", type=int)
@click.option("--seq", type=int, default=None, help="Checkpoint to prove against "
              "(default: the first that covers the entry).")
@pass_ctx
def prove_cmd(ctx, index, seq):
    """Print the receipt for an entry: entry + inclusion proof + signed checkpoint (JSON)."""
    try:
        with open_store(ctx.cfg) as store:
            click.echo(make_receipt(store, index, seq).to_json())
    except (DtaError, TreeError) as exc:
        _fail(exc)


@cli.command("consistency")
@click.argument("size1", type=int)
@click.argument("size2", type=int, required=False)
@pass_ctx
def consistency_cmd(ctx, size1, size2):
    """Consistency proof from tree size1 to size2 (default: current size)."""
    try:
        with open_store(ctx.cfg) as store:
            size2 = store.size if size2 is None else size2
            path = store.consistency_proof(size1, size2)
            emit_json({"size1": size1, "size2": size2, "root1": store.root(size1).hex(),
                       "root2": store.root(size2).hex(),
                       "proof": merkle.encode_proof(merkle.PROOF_CONSISTENCY, size1, size2,
                                                    path).hex()})
    except (DtaError, TreeError) as exc:
        _fail(exc)


@cli.command("verify")
@click.argument("receipt", type=click.File("r"), required=False)
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
            with open_store(ctx.cfg) as store:
                n = store.verify_integrity()
            emit_json({"ok": True, "entries": n})
            return
        text = (receipt or sys.stdin).read()
        pub = bytes.fromhex(pubkey) if pubkey else keys.public_key(ctx.cfg.data_dir)
        entry, index, cp = verify_receipt(Receipt.from_json(text),
                                          key_name=key_name or ctx.cfg.log.origin,
                                          public_key=pub)
        emit_json({"ok": True, "index": index, "tree_size": cp.size, "root": cp.root.hex(),
                   "entry": _entry_json(entry.encode())})
    except ValueError as exc:
        _fail(f"bad public key: {exc}")
    except (DtaError, ProtocolError) as exc:
        click.echo(f"error: {type(exc).__name__}: {exc}", err=True)
        sys.exit(1)
