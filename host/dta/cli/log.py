"""`dta log ...`: append entries, inspect the tree, close checkpoints, and make or check proofs.

The read-only commands (show, prove, consistency, verify) create nothing: on a data directory
without a log they say there is nothing yet."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from dta import exitcodes
from dta import receipt as receipts
from dta.authority import identity
from dta.cli.context import (
    age,
    codes,
    emit,
    emit_json,
    fail,
    json_option,
    open_signer,
    pass_ctx,
    passphrase_option,
)
from dta.cli.render import NOT_A_RECEIPT, entry_json, entry_line
from dta.errors import DecodeError, StoreError
from dta.log.service import Log
from dta.log.store import LogStore
from dta.verify import LinkError, verify_log_receipt
from dtacore import entries, merkle

# `log show --from/--to` lists at most this many entries per call: a screenful or a pipe, not
# the whole log in one reply.
MAX_LISTED = 1000


def _open_log(ctx, passphrase_file) -> Log:
    return Log.open(ctx.cfg, open_signer(ctx.cfg, passphrase_file))


def _existing(ctx) -> LogStore | None:
    """The log store if there is one; a read-only command must not create it."""
    return LogStore.open(ctx.cfg) if ctx.cfg.log_db.exists() else None


def _empty(ctx) -> StoreError:
    return StoreError(f"the log is empty: nothing was logged in {ctx.cfg.data_dir} yet")


@click.group("log")
def cli() -> None:
    """The transparency log: RFC 9162 Merkle tree of shares and device events."""


def _decoded(i: int, text: str) -> bytes:
    try:
        data = bytes.fromhex(text)
    except ValueError:
        raise click.BadParameter(f"entry {i + 1} ({text[:20]!r}) is not hex",
                                 param_hint="ENTRY_HEX") from None
    try:
        entries.decode(data)
    except DecodeError as exc:
        raise click.BadParameter(f"entry {i + 1} is not a log entry: {exc} (formats: "
                                 "docs/log.md)", param_hint="ENTRY_HEX") from None
    return data


@cli.command("append", epilog=codes(exitcodes.PASSPHRASE, exitcodes.SETUP))
@click.argument("entry_hex", nargs=-1, required=True)
@passphrase_option
@json_option
@pass_ctx
def append_cmd(ctx, entry_hex, passphrase_file, as_json):
    """Append canonical entries (hex, see docs/log.md) durably, in one transaction."""
    data = [_decoded(i, h) for i, h in enumerate(entry_hex)]
    log = _open_log(ctx, passphrase_file)
    try:
        idx = log.append_many(data)
        out = {"indices": list(idx), "tree_size": log.store.size,
               "root": log.store.root().hex()}
    finally:
        log.store.close()
    emit(as_json, out, lambda d: f"appended entries {', '.join(f'#{i}' for i in d['indices'])}; "
         f"tree size {d['tree_size']}, root {d['root']}")


def _head(ctx, store: LogStore | None) -> dict:
    if store is None:
        return {"origin": ctx.cfg.log.origin, "tree_size": 0, "root": merkle.empty_root().hex(),
                "last_checkpoint": None}
    last = store.last_checkpoint()
    return {"origin": store.origin, "tree_size": store.size, "root": store.root().hex(),
            "last_checkpoint": None if last is None else {
                "seq": last.seq, "tree_size": last.tree_size, "root": last.root.hex(),
                "created_at": last.created_at,
                "age_seconds": round(max(0.0, time.time() - last.created_at), 3),
                "note": last.note}}


def _head_lines(d: dict) -> list[str]:
    lines = [f"log {d['origin']}: {d['tree_size']} entries, root {d['root']}"]
    cp = d["last_checkpoint"]
    if d["tree_size"] == 0:
        lines.append("nothing logged yet")
    if cp is None:
        lines.append("no checkpoint yet")
    else:
        behind = d["tree_size"] - cp["tree_size"]
        lines.append(f"last checkpoint #{cp['seq']}: {cp['tree_size']} entries, closed "
                     f"{age(cp['age_seconds'])} ago" + (f"; {behind} entries since" if behind
                                                        else ""))
    return lines


def _listing(store: LogStore, first: int, last: int) -> list[dict]:
    rows = []
    for i in range(first, last + 1):
        data = store.entry(i)
        rows.append({"index": i, "leaf_hash": store.leaf_hash(i).hex(), "hex": data.hex(),
                     "entry": entry_json(entries.decode(data))})
    return rows


def _range(store: LogStore | None, ctx, index, first, last) -> tuple[int, int]:
    size = store.size if store else 0
    if index is not None:
        first = last = index
    first = 0 if first is None else first
    last = size - 1 if last is None else min(last, size - 1)
    if size == 0:
        raise _empty(ctx)
    if not 0 <= first < size:
        raise StoreError(f"no entry {first}: the log holds entries 0..{size - 1}")
    if last < first:
        raise click.BadParameter(f"--to {last} is before --from {first}")
    if last - first + 1 > MAX_LISTED:
        raise click.BadParameter(f"{last - first + 1} entries asked for; at most {MAX_LISTED} "
                                 "per call (narrow --from/--to)")
    return first, last


@cli.command("show", epilog=codes(exitcodes.SETUP))
@click.argument("index", type=int, required=False)
@click.option("--from", "first", type=click.IntRange(min=0), default=None,
              help="List entries from this index ...")
@click.option("--to", "last", type=click.IntRange(min=0), default=None,
              help="... to this one, included (default: the last).")
@json_option
@pass_ctx
def show_cmd(ctx, index, first, last, as_json):
    """Tree head and last checkpoint; or entry INDEX, or entries --from A --to B, decoded.
    Read-only: creates nothing."""
    store = _existing(ctx)
    try:
        if index is None and first is None and last is None:
            emit(as_json, _head(ctx, store), _head_lines)
            return
        lo, hi = _range(store, ctx, index, first, last)
        rows = _listing(store, lo, hi)
    finally:
        if store is not None:
            store.close()
    if as_json:
        emit_json(rows[0] if index is not None else {"entries": rows})
        return
    for row in rows:
        click.echo(entry_line(row["index"], entries.decode(bytes.fromhex(row["hex"]))))


@cli.command("checkpoint", epilog=codes(exitcodes.PASSPHRASE, exitcodes.SETUP))
@click.option("--if-due", is_flag=True, help="Only close one if the window or count says so.")
@passphrase_option
@json_option
@pass_ctx
def checkpoint_cmd(ctx, if_due, passphrase_file, as_json):
    """Close a checkpoint over the current tree and print its signed note (none when the tree
    has not grown since the last one)."""
    log = _open_log(ctx, passphrase_file)
    try:
        last = log.store.last_checkpoint()
        rec = log.maybe_checkpoint() if if_due else log.checkpoint()
        size = log.store.size
    finally:
        log.store.close()
    if rec is None or (last is not None and rec.seq == last.seq):
        emit(as_json, {"closed": False, "tree_size": size}, lambda d: (
            f"no checkpoint closed: the tree ({size} entries) has not grown since checkpoint "
            f"#{last.seq}" if last else "no checkpoint closed: nothing is due yet"))
        return
    emit(as_json, {"closed": True, "seq": rec.seq, "tree_size": rec.tree_size,
                   "root": rec.root.hex(), "note": rec.note},
         lambda d: [f"checkpoint #{d['seq']} closed: {d['tree_size']} entries, root "
                    f"{d['root']}", "", d["note"].rstrip("\n")])


@cli.command("prove", epilog=codes(exitcodes.SETUP))
@click.argument("index", type=click.IntRange(min=0))
@click.option("--seq", type=click.IntRange(min=0), default=None, help="Checkpoint to prove "
              "against (default: the first that covers the entry).")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Write the receipt here (default: stdout).")
@pass_ctx
def prove_cmd(ctx, index, seq, out):
    """The receipt for entry INDEX (entry + inclusion proof + signed checkpoint), as the
    dta-log-receipt/1 JSON document `dta verify` and `dta receipt upgrade` read."""
    store = _existing(ctx)
    if store is None:
        raise StoreError(f"no entry {index}: {_empty(ctx)}")
    with store:
        text = store.receipt(index, seq).to_json()
    if out:
        Path(out).write_text(text + "\n")
        click.echo(f"receipt for entry #{index} written to {out}", err=True)
    else:
        click.echo(text)


@cli.command("consistency", epilog=codes(exitcodes.SETUP))
@click.argument("size1", type=click.IntRange(min=1))
@click.argument("size2", type=click.IntRange(min=1), required=False)
@json_option
@pass_ctx
def consistency_cmd(ctx, size1, size2, as_json):
    """Consistency proof from tree size1 to size2 (default: current size)."""
    store = _existing(ctx)
    if store is None:
        raise _empty(ctx)
    with store:
        size2 = store.size if size2 is None else size2
        path = store.consistency_proof(size1=size1, size2=size2)
        out = {"size1": size1, "size2": size2, "root1": store.root(size1).hex(),
               "root2": store.root(size2).hex(),
               "proof": merkle.encode_consistency(size1=size1, size2=size2, path=path).hex()}
    emit(as_json, out, lambda d: [f"tree {d['size1']} (root {d['root1']}) is a prefix of tree "
                                  f"{d['size2']} (root {d['root2']})", f"proof {d['proof']}"])


def _pubkey(text: str) -> bytes:
    try:
        pub = bytes.fromhex(text)
    except ValueError:
        raise click.BadParameter("not hex: give the 33-byte compressed key as 66 hex digits",
                                 param_hint="--pubkey") from None
    if len(pub) != 33:
        raise click.BadParameter(f"{len(pub)} bytes: give the 33-byte compressed key",
                                 param_hint="--pubkey")
    return pub


def _verify_store(ctx, as_json: bool) -> None:
    store = _existing(ctx)
    if store is None:
        raise _empty(ctx)
    with store:
        n = store.verify_integrity()
    emit(as_json, {"ok": True, "entries": n},
         lambda d: f"ok: every node of the {d['entries']}-entry log recomputes from its entries")


def _read_receipt(receipt, name: str):
    raw = (receipt or sys.stdin.buffer).read(receipts.MAX_RECEIPT + 1)
    try:
        rec = receipts.parse(raw, f"receipt {name}")
    except DecodeError as exc:
        fail(f"{exc} {NOT_A_RECEIPT}", exitcodes.VERIFY_FAILED)
    if not isinstance(rec, receipts.Receipt):
        fail(f"{name} is a birth receipt: check it with `dta verify {name}`")
    return rec


@cli.command("verify", epilog=codes(exitcodes.VERIFY_FAILED, exitcodes.SETUP))
@click.argument("receipt", type=click.File("rb"), required=False)
@click.option("--pubkey", default=None, help="Checkpoint key (hex, 33 bytes; default: this "
              "D-TA's).")
@click.option("--key-name", default=None, help="Signature line name (default: the origin).")
@click.option("--store", "check_store", is_flag=True,
              help="Instead: re-hash the whole local store and check every node.")
@json_option
@pass_ctx
def verify_cmd(ctx, receipt, pubkey, key_name, check_store, as_json):
    """Verify a receipt's log links (file or - for stdin) offline, or the whole local store
    (--store). Exit 0 valid, 1 invalid."""
    if check_store:
        _verify_store(ctx, as_json)
        return
    name = getattr(receipt, "name", "-") if receipt is not None else "-"
    rec = _read_receipt(receipt, name)
    pub = _pubkey(pubkey) if pubkey else identity.public_key(ctx.cfg.data_dir)
    try:
        _, proof, cp = verify_log_receipt(rec, pub, key_name or ctx.cfg.log.origin)
    except LinkError as exc:
        if as_json:
            emit_json({"ok": False, "link": exc.link, "reason": exc.reason})
        fail(f"the receipt does not verify: {exc.link}: {exc.reason}", exitcodes.VERIFY_FAILED)
    out = {"ok": True, "index": proof.index, "tree_size": cp.size, "root": cp.root.hex(),
           "entry": entry_json(entries.decode(rec.entry))}
    emit(as_json, out, lambda d: f"ok: entry #{d['index']} is in the signed checkpoint of tree "
         f"size {d['tree_size']} (root {d['root']}) of log {ctx.cfg.log.origin}")
