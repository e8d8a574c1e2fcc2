"""`dta receipt info FILE`: what a receipt says, decoded, without verifying it (`dta verify`
does that)."""

from __future__ import annotations

from pathlib import Path

import click

from dta import exitcodes
from dta import receipt as receipts
from dta.cli.context import codes, emit, fail, json_option, pass_ctx
from dta.cli.render import NOT_A_RECEIPT, entry_json, entry_summary
from dta.errors import DecodeError
from dtacore import birth, bitcoin, entries, merkle, note


def _chain(c: receipts.ChainProof) -> dict:
    return {"txid": bitcoin.reverse(bitcoin.parse_tx(c.tx).txid).hex(),
            "block_height": c.checkpoint_height + 1 + c.block_index,
            "checkpoint_height": c.checkpoint_height, "headers": len(c.headers),
            "confirmations_in_receipt": len(c.headers) - c.block_index}


def _log_receipt(rec: receipts.Receipt) -> dict:
    proof = merkle.decode_inclusion(rec.proof)
    cp = note.parse_checkpoint(rec.checkpoint)
    out = {"format": receipts.LOG_FORMAT, "entry": entry_json(entries.decode(rec.entry)),
           "leaf_index": proof.index, "tree_size": proof.size,
           "checkpoint": {"origin": cp.origin, "tree_size": cp.size, "root": cp.root.hex(),
                          "signed_by": [s[0] for s in cp.signatures]},
           "anchor": None, "consistency": rec.consistency is not None}
    ev = rec.anchor
    if ev is not None:
        out["anchor"] = {"status": ev.status, "network": ev.network, "dta_id": ev.dta_id.hex(),
                         "sequence": ev.sequence, "identity_pubkey": ev.identity_pubkey.hex(),
                         **(_chain(ev.chain) if ev.chain else {})}
    return out


def _birth_receipt(rec: receipts.BirthReceipt) -> dict:
    out = {"format": receipts.BIRTH_FORMAT, "network": rec.network, "dta_id": rec.dta_id.hex(),
           "identity_pubkey": rec.identity_pubkey.hex(), "revealed": rec.birth_record is not None,
           **_chain(rec.chain)}
    if rec.birth_record is not None:
        out["name"] = birth.decode(rec.birth_record).name
    return out


def _lines(d: dict) -> list[str]:
    if d["format"] == receipts.BIRTH_FORMAT:
        return [f"birth receipt of D-TA {d['dta_id']} on {d['network']}"
                + (f" ('{d['name']}')" if d.get("name") else ""),
                f"  identity key {d['identity_pubkey']}",
                f"  tx {d['txid']} in block {d['block_height']}, "
                f"{d['confirmations_in_receipt']} confirmations carried"]
    e = d["entry"]
    lines = [f"log receipt: entry #{d['leaf_index']} of tree size {d['tree_size']}: "
             f"{e['type']}" + (f" at {e['time']}" if "time" in e else ""),
             f"  {d['summary']}",
             f"  checkpoint of {d['checkpoint']['origin']}: {d['checkpoint']['tree_size']} "
             f"entries, root {d['checkpoint']['root']}, signed by "
             f"{', '.join(d['checkpoint']['signed_by'])}"]
    a = d["anchor"]
    if a is None:
        lines.append("  anchor: none yet (`dta receipt upgrade`)")
    elif a["status"] == "pending":
        lines.append(f"  anchor: pending (checkpoint {a['sequence']} of D-TA {a['dta_id']})")
    else:
        lines.append(f"  anchored by D-TA {a['dta_id']} on {a['network']}: checkpoint "
                     f"{a['sequence']} in tx {a['txid']}, block {a['block_height']}, "
                     f"{a['confirmations_in_receipt']} confirmations carried")
    lines.append("  (not verified: `dta verify FILE` checks every link)")
    return lines


@click.command("info", epilog=codes(exitcodes.VERIFY_FAILED))
@click.argument("receipt_file", type=click.Path(dir_okay=False, exists=True))
@json_option
@pass_ctx
def info_cmd(ctx, receipt_file, as_json):
    """Pretty-print a receipt (log or birth): the entry, proof, checkpoint and anchor it
    carries. Decodes strictly; does not verify."""
    raw = Path(receipt_file).read_bytes()[:receipts.MAX_RECEIPT + 1]
    try:
        rec = receipts.parse(raw, f"receipt {receipt_file}")
        if isinstance(rec, receipts.BirthReceipt):
            data = _birth_receipt(rec)
        else:
            data = _log_receipt(rec)
            data["summary"] = entry_summary(entries.decode(rec.entry))
    except DecodeError as exc:
        fail(f"{exc} {NOT_A_RECEIPT}", exitcodes.VERIFY_FAILED)
    emit(as_json, data, _lines)
