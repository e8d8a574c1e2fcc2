"""`dta authority ...`: create the D-TA, show its public facts, where to fund it, reveal its
birth."""

from __future__ import annotations

from pathlib import Path

import click

from dta.anchor import address as addr
from dta.anchor.store import AnchorStore
from dta.authority import identity
from dta.cli.context import USER_ERRORS, emit_json, fail, pass_ctx, passphrase, passphrase_option
from dtacore import network as networks


@click.group("authority")
def cli() -> None:
    """The D-TA's identity: secrets, Birth Record, funding address."""


@cli.command("init")
@click.option("--name", required=True, help="Operator-chosen label stored in the Birth Record.")
@click.option("--network", default=None,
              help="mainnet, testnet, signet or regtest (default: config).")
@click.option("--software-version", default=None,
              help="Recorded software version (default: dta/<version>).")
@passphrase_option
@pass_ctx
def init_cmd(ctx, name, network, software_version, passphrase_file):
    """Make the master secret, nonce and identity key (sealed with the passphrase) and the
    Birth Record."""
    try:
        facts = identity.initialise(ctx.cfg.data_dir, passphrase(passphrase_file, confirm=True),
                                    name=name, network=network or ctx.cfg.chain.network,
                                    software_version=software_version)
    except USER_ERRORS as exc:
        fail(exc)
    emit_json(facts.as_dict())


def _public(ctx) -> identity.PublicFacts:
    try:
        return identity.load_public(ctx.cfg.data_dir)
    except USER_ERRORS as exc:
        fail(exc)


def _address(facts: identity.PublicFacts) -> str:
    return addr.p2wpkh_address(networks.by_name(facts.network).bech32_hrp, facts.identity_pubkey)


@cli.command("show")
@pass_ctx
def show_cmd(ctx):
    """Public facts: D-TA id, name, network, identity key (no passphrase needed)."""
    out = _public(ctx).as_dict()
    out["address"] = _address(_public(ctx))
    out["birth_anchor"] = _birth_anchor(ctx.cfg.anchor_db)
    emit_json(out)


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
        return {k: d[k] for k in ("state", "txid", "height", "confirmations")}
    finally:
        store.close()


@cli.command("address")
@pass_ctx
def address_cmd(ctx):
    """The P2WPKH address (and script) that funds the Birth Record transaction."""
    facts = _public(ctx)
    emit_json({"network": facts.network, "address": _address(facts),
               "script_pubkey": addr.p2wpkh_script(facts.identity_pubkey).hex()})


@cli.command("reveal")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Write the raw Birth Record here (else print it as hex).")
@passphrase_option
@pass_ctx
def reveal_cmd(ctx, out, passphrase_file):
    """Publish the Birth Record: its bytes hash to the D-TA id anchored on-chain."""
    try:
        secrets = identity.unlock(ctx.cfg.data_dir, passphrase(passphrase_file))
    except USER_ERRORS as exc:
        fail(exc)
    record = secrets.record
    if out:
        Path(out).write_bytes(record)
    result = identity.PublicFacts.of(secrets.birth).as_dict()
    result["master_commitment"] = secrets.birth.master_commitment.hex()
    result["nonce"] = secrets.birth.nonce.hex()
    result["birth_record"] = record.hex()
    emit_json(result)
