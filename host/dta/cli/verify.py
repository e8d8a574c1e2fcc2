"""`dta verify`: check a receipt link by link with no trust in the D-TA, or walk a D-TA's
anchor history.

The verdict is one line, as `ots verify` gives one: which D-TA the receipt was checked against
and which Bitcoin block attests it. Exit 0 valid, 1 invalid, 6 undecided (nothing to check the
Bitcoin links against: the message names the options that would let it decide), 5 the node
did not answer."""

from __future__ import annotations

from pathlib import Path

import click

from dta import exitcodes
from dta import receipt as receipts
from dta.anchor import history
from dta.anchor.rpc import Node
from dta.cli.context import codes, emit, emit_json, pass_ctx
from dta.cli.render import NOT_A_RECEIPT
from dta.errors import DecodeError
from dta.verify import LinkError, TrustRoot, verify_birth, verify_receipt
from dtacore import receipt as links

EPILOG = codes(exitcodes.VERIFY_FAILED, exitcodes.UNREACHABLE, exitcodes.UNDECIDED)
HOW_TO_DECIDE = ("give --node URL (or set chain.rpc_url / $DTA_BITCOIN_RPC), or a trusted "
                 "block header: --checkpoint-header HEX --checkpoint-height N")


def _hex_option(value: str | None, name: str, size: int | None = None) -> bytes | None:
    if value is None:
        return None
    try:
        out = bytes.fromhex(value)
    except ValueError:
        raise click.BadParameter(f"{value[:20]!r} is not hex" + (
            f": give {2 * size} hex digits" if size else ""), param_hint=name) from None
    if size is not None and len(out) != size:
        raise click.BadParameter(f"{len(out)} bytes; it must be {size} bytes "
                                 f"({2 * size} hex digits)", param_hint=name)
    return out


def _history(ctx, history_id: str, node_url: str | None, from_height: int, as_json) -> None:
    dta_id = _hex_option(history_id, "--history", 32)
    node = Node.from_config(ctx.cfg, node_url)
    if node is None:
        raise click.UsageError(f"--history needs a node to read blocks from: {HOW_TO_DECIDE}")
    result = history.walk(node, dta_id, from_height=from_height)
    emit(as_json, result, _history_lines)
    if not result["ok"]:
        raise SystemExit(exitcodes.VERIFY_FAILED)


def _history_lines(d: dict) -> list[str]:
    lines = [("valid" if d["ok"] else "INVALID") + f": seal chain of D-TA {d['dta_id']}: "
             f"{len(d['anchors'])} checkpoints anchored up to height {d['scanned_to']}"
             + ("" if d["birth"] else "; no Birth Record found")]
    for kind in ("gaps", "forks", "second_spends"):
        lines += [f"  {kind[:-1]} at height {x.get('height')}: {x.get('reason', x)}"
                  for x in d[kind]]
    return lines


def _birth_json(b) -> dict:
    return {"valid": True, "kind": "birth", "dta_id": b.dta_id.hex(),
            "identity_pubkey": b.identity_pubkey.hex(), "txid": b.txid, "height": b.height,
            "confirmations": b.confirmations, "revealed": b.record is not None,
            "name": b.record.name if b.record else None}


def _entry_json(v, dta_id: str) -> dict:
    return {"valid": True, "kind": "entry", "dta_id": dta_id, "anchored": v.anchored,
            "leaf_index": v.leaf_index, "tree_size": v.tree_size, "root": v.root.hex(),
            "sequence": v.sequence, "txid": v.txid, "height": v.height,
            "confirmations": v.confirmations,
            "anchored_tree_size": getattr(v, "anchored_tree_size", None)}


def _verdict(d: dict, network: str, trusted: str) -> str:
    if d["kind"] == "birth":
        name = f" ('{d['name']}', revealed)" if d["name"] else ""
        return (f"valid: Bitcoin {network} block {d['height']} attests the birth of D-TA "
                f"{d['dta_id']}{name}: tx {d['txid']}, {d['confirmations']} confirmations "
                f"({trusted})")
    if not d["anchored"]:
        return (f"valid log links: entry #{d['leaf_index']} is in checkpoint "
                f"{d['sequence']} (tree size {d['tree_size']}) of D-TA {d['dta_id']}, which is "
                "not anchored yet (pending)")
    return (f"valid: Bitcoin {network} block {d['height']} attests entry #{d['leaf_index']} "
            f"(tree size {d['tree_size']}) of D-TA {d['dta_id']}: checkpoint {d['sequence']} in "
            f"tx {d['txid']}, {d['confirmations']} confirmations ({trusted})")


def _trust_root(ctx, header, height, node_url) -> tuple[TrustRoot, str]:
    if (header is None) != (height is None):
        raise click.UsageError("--checkpoint-header and --checkpoint-height go together")
    if header is not None:
        return TrustRoot(header, height, None), f"against the trusted header at {height}"
    node = Node.from_config(ctx.cfg, node_url)
    if node is None:
        return TrustRoot(), "nothing to check the chain against"
    return TrustRoot(None, None, node), f"against the best chain of {node.rpc!r}"


def _read(receipt_file: str):
    raw = Path(receipt_file).read_bytes()[:receipts.MAX_RECEIPT + 1]
    try:
        return receipts.parse(raw, f"receipt {receipt_file}")
    except DecodeError as exc:
        raise LinkError("receipt", f"{exc} {NOT_A_RECEIPT}") from None


@click.command("verify", epilog=EPILOG)
@click.argument("receipt_file", type=click.Path(dir_okay=False, exists=True), required=False)
@click.option("--checkpoint-header", default=None, help="Trusted block header (80 bytes hex).")
@click.option("--checkpoint-height", type=click.IntRange(min=0), default=None,
              help="Height of the trusted header.")
@click.option("--node", "node_url", default=None,
              help="Check headers against this node (default: chain.rpc_url).")
@click.option("-k", "--confirmations", "k", type=click.IntRange(min=1), default=None,
              help="Required confirmations (default: the network's).")
@click.option("--dta-id", default=None, help="Expected D-TA id (hex).")
@click.option("--allow-pending", is_flag=True, help="Accept a receipt whose checkpoint is not "
              "anchored yet (the log links are still checked).")
@click.option("--history", "history_id", default=None, help="Walk the seal chain of this D-TA id.")
@click.option("--from-height", type=click.IntRange(min=0), default=0,
              help="With --history: first block to scan.")
@click.option("--from", "from_url", default=None, metavar="URL",
              help="Fetch what to check from this D-TA's HTTP API instead of files (with "
              "--entry, --seal-chain, --birth).")
@click.option("--entry", "entry_index", type=click.IntRange(min=0), default=None,
              help="With --from: the receipt of this log entry.")
@click.option("--seal-chain", "seal_chain", is_flag=True,
              help="With --from: the D-TA's whole seal chain.")
@click.option("--birth", "birth", is_flag=True, help="With --from: the D-TA's birth receipt.")
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON.")
@pass_ctx
def verify_cmd(ctx, receipt_file, checkpoint_header, checkpoint_height, node_url, k, dta_id,
               allow_pending, history_id, from_height, from_url, entry_index, seal_chain, birth,
               as_json):
    """Check a receipt link by link with no trust in the D-TA, or walk a D-TA's anchor history.
    Exit 0 valid, 1 invalid, 6 cannot decide, 5 the node did not answer."""
    if from_url:
        header = _hex_option(checkpoint_header, "--checkpoint-header", 80)
        root, trusted = _trust_root(ctx, header, checkpoint_height, node_url)
        what = {"entry": entry_index, "seal_chain": seal_chain, "birth": birth}
        _verify_from(from_url, what, root, trusted, k=k, allow_pending=allow_pending,
                     expect=_hex_option(dta_id, "--dta-id", 32), as_json=as_json)
        return
    if entry_index is not None or seal_chain or birth:
        raise click.UsageError("--entry, --seal-chain and --birth go with --from URL")
    if history_id:
        _history(ctx, history_id, node_url, from_height, as_json)
        return
    if not receipt_file:
        raise click.UsageError("give a RECEIPT file or --history DTA_ID")
    header = _hex_option(checkpoint_header, "--checkpoint-header", 80)
    root, trusted = _trust_root(ctx, header, checkpoint_height, node_url)
    expect = _hex_option(dta_id, "--dta-id", 32)
    try:
        rec = _read(receipt_file)
        if isinstance(rec, receipts.BirthReceipt):
            data, network = _birth_json(verify_birth(rec, root, k=k, expect_dta_id=expect)), \
                rec.network
        else:
            v = verify_receipt(rec, root, k=k, allow_pending=allow_pending, expect_dta_id=expect)
            data, network = _entry_json(v, rec.anchor.dta_id.hex()), rec.anchor.network
    except LinkError as exc:
        _refused(exc, root, as_json)
    emit(as_json, data, lambda d: _verdict(d, network, trusted))


def _refused(exc: LinkError, root: TrustRoot, as_json: bool):
    if not root.usable and exc.link == links.LINK_HEADERS:
        data = {"valid": None, "decided": False, "link": exc.link, "reason": exc.reason,
                "how_to_decide": HOW_TO_DECIDE}
        emit(as_json, data, lambda d: "UNDECIDED: the receipt's log and transaction links "
             f"verify, but there is nothing to check its block headers against: {HOW_TO_DECIDE}")
        raise SystemExit(exitcodes.UNDECIDED)
    if as_json:
        emit_json({"valid": False, "link": exc.link, "reason": exc.reason})
    else:
        click.echo(f"INVALID: {exc.link}: {exc.reason}")
    raise SystemExit(exitcodes.VERIFY_FAILED)


def _seal_json(v) -> dict:
    from dataclasses import asdict
    return {"valid": True, "kind": "seal-chain", "dta_id": v.dta_id.hex(),
            "birth_txid": v.birth.txid, "birth_height": v.birth.height, "tip": v.tip_height,
            "anchors": [asdict(a) for a in v.anchors], "pending": [asdict(p) for p in v.pending]}


def _seal_verdict(d: dict, network: str, trusted: str) -> str:
    last = d["anchors"][-1] if d["anchors"] else None
    upto = (f"up to checkpoint {last['sequence']} (tree size {last['tree_size']}, block "
            f"{last['height']}, {last['confirmations']} confirmations)" if last else
            "with no checkpoint anchored yet")
    return (f"valid: the seal chain of D-TA {d['dta_id']} on Bitcoin {network}: Birth Record "
            f"in block {d['birth_height']}, {len(d['anchors'])} checkpoints anchored in order "
            f"{upto}; {len(d['pending'])} steps not in a block yet ({trusted})")


def _verify_from(url: str, what: dict, root: TrustRoot, trusted: str, *, k, allow_pending,
                 expect, as_json) -> None:
    """`dta verify --from URL`: the same checks on documents fetched from the D-TA's API."""
    from dta.cli.context import fail
    from dta.shares_client import DtaClient, DtaUnreachable, SharesError, http_client
    from dta.verify import verify_seal_chain

    if what["entry"] is None and not what["seal_chain"] and not what["birth"]:
        raise click.UsageError("--from URL needs --entry N, --seal-chain or --birth")
    height = root.height if root.node is None else None
    with http_client() as http:
        client = DtaClient(url, http=http)
        try:
            for kind in ("birth", "seal_chain", "entry"):
                if what[kind] is None or what[kind] is False:
                    continue
                if kind == "birth":
                    rec = client.birth(height, k or 1)
                    data, net = _birth_json(verify_birth(rec, root, k=k, expect_dta_id=expect)), \
                        rec.network
                    emit(as_json, data, lambda d, n=net: _verdict(d, n, trusted))
                elif kind == "seal_chain":
                    chain = client.seal_chain(height)
                    data = _seal_json(verify_seal_chain(chain, root, k=k, expect_dta_id=expect))
                    emit(as_json, data, lambda d, n=chain.network: _seal_verdict(d, n, trusted))
                else:
                    rec = client.receipt(what["entry"], height)
                    v = verify_receipt(rec, root, k=k, allow_pending=allow_pending,
                                       expect_dta_id=expect)
                    data = _entry_json(v, rec.anchor.dta_id.hex())
                    emit(as_json, data, lambda d, n=rec.anchor.network: _verdict(d, n, trusted))
        except LinkError as exc:
            _refused(exc, root, as_json)
        except DtaUnreachable as exc:
            fail(exc, exitcodes.UNREACHABLE)
        except SharesError as exc:
            fail(exc, exitcodes.VERIFY_FAILED)
