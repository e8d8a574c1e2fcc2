"""`dta authority ...`: create the D-TA, show its public facts, where to fund it, reveal its
birth."""

from __future__ import annotations

from pathlib import Path

import click

from dta import exitcodes
from dta.anchor import address as addr
from dta.anchor.capabilities import BCOIN_REGTEST_HRP
from dta.anchor.store import AnchorStore
from dta.authority import identity
from dta.cli.context import codes, emit, json_option, pass_ctx, passphrase, passphrase_option
from dtacore import network as networks


@click.group("authority")
def cli() -> None:
    """The D-TA's identity: secrets, Birth Record, funding address."""


def _facts_lines(d: dict) -> list[str]:
    lines = [f"D-TA '{d['name']}' on {d['network']}", f"  id              {d['dta_id']}",
             f"  identity key    {d['identity_pubkey']}",
             f"  software        {d['software_version']}"]
    if "address" in d:
        lines.append(f"  funding address {d['address']}")
    if "birth_anchor" in d:
        b = d["birth_anchor"]
        lines.append("  Birth Record    " + ("not queued for anchoring yet (dta anchor run)"
                                            if b is None else
                                            f"{b['state']}" + (f", tx {b['txid']}" if b["txid"]
                                                               else "")
                                            + (f" at height {b['height']}" if b["height"]
                                               else "")))
    return lines


@cli.command("init", epilog=codes(exitcodes.PASSPHRASE, exitcodes.SETUP))
@click.option("--name", required=True, help="Operator-chosen label stored in the Birth Record.")
@click.option("--network", type=click.Choice([n.name for n in networks.NETWORKS]), default=None,
              help="The Bitcoin network it anchors on (default: config chain.network).")
@click.option("--software-version", default=None,
              help="Recorded software version (default: dta/<version>).")
@passphrase_option
@json_option
@pass_ctx
def init_cmd(ctx, name, network, software_version, passphrase_file, as_json):
    """Make the master secret, nonce and identity key (sealed with the passphrase) and the
    Birth Record."""
    facts = identity.initialise(ctx.cfg.data_dir, passphrase(passphrase_file, confirm=True),
                                name=name, network=network or ctx.cfg.chain.network,
                                software_version=software_version)
    emit(as_json, facts.as_dict(), lambda d: ["created " + _facts_lines(d)[0]]
         + _facts_lines(d)[1:] + [f"  secrets sealed in {identity.authority_dir(ctx.cfg.data_dir)}"
                                  " (back it up; keep the passphrase apart from it)"])


def _address(facts: identity.PublicFacts) -> str:
    return addr.p2wpkh_address(networks.by_name(facts.network).bech32_hrp, facts.identity_pubkey)


@cli.command("show", epilog=codes(exitcodes.SETUP))
@json_option
@pass_ctx
def show_cmd(ctx, as_json):
    """Public facts: D-TA id, name, network, identity key (no passphrase needed)."""
    facts = identity.load_public(ctx.cfg.data_dir)
    out = facts.as_dict()
    out["address"] = _address(facts)
    out["birth_anchor"] = _birth_anchor(ctx.cfg.anchor_db)
    emit(as_json, out, _facts_lines)


def _birth_anchor(path: Path) -> dict | None:
    """State of the Birth Record transaction as the anchorer recorded it (None: not queued)."""
    if not path.exists():
        return None
    store = AnchorStore(path)
    try:
        row = store.get(0)
        if row is None:
            return None
        d = row.as_dict()
        return {k: d.get(k) for k in ("state", "txid", "height", "confirmations")}
    finally:
        store.close()


@cli.command("address", epilog=codes(exitcodes.SETUP))
@json_option
@pass_ctx
def address_cmd(ctx, as_json):
    """The P2WPKH address (and script) that funds the Birth Record transaction."""
    facts = identity.load_public(ctx.cfg.data_dir)
    out = {"network": facts.network, "address": _address(facts),
           "script_pubkey": addr.p2wpkh_script(facts.identity_pubkey).hex()}
    if facts.network == "regtest":
        # bcoin 1.0.2's regtest spells the same script with its own prefix.
        out["bcoin_regtest_address"] = addr.p2wpkh_address(BCOIN_REGTEST_HRP,
                                                           facts.identity_pubkey)
    emit(as_json, out, lambda d: [f"{d['address']}  ({d['network']}, P2WPKH script "
                                  f"{d['script_pubkey']})"] + (
        [f"{d['bcoin_regtest_address']}  (the same script as bcoin's regtest writes it; "
         "`dta devnet fund` mines to it)"] if "bcoin_regtest_address" in d else []))


@cli.command("reveal", epilog=codes(exitcodes.PASSPHRASE, exitcodes.SETUP))
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Write the raw Birth Record here (else print it as hex).")
@passphrase_option
@json_option
@pass_ctx
def reveal_cmd(ctx, out, passphrase_file, as_json):
    """Publish the Birth Record: its bytes hash to the D-TA id anchored on-chain."""
    secrets = identity.unlock(ctx.cfg.data_dir, passphrase(passphrase_file))
    record = secrets.record
    if out:
        Path(out).write_bytes(record)
    result = identity.PublicFacts.of(secrets.birth).as_dict()
    result["master_commitment"] = secrets.birth.master_commitment.hex()
    result["nonce"] = secrets.birth.nonce.hex()
    result["birth_record"] = record.hex()
    emit(as_json, result, lambda d: _facts_lines(d) + [
        f"  commitment      {d['master_commitment']}", f"  nonce           {d['nonce']}",
        f"  Birth Record    {out if out else d['birth_record']}"])
