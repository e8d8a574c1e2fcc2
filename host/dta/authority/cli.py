"""`dta authority ...`: create the D-TA, show its public facts, where to fund it, reveal its birth."""

from __future__ import annotations

from pathlib import Path

import click

from dta.authority import identity
from dta.chain import address as addr, network as networks
from dta.clictx import emit_json, pass_ctx
from dta.errors import DtaError

passphrase_option = click.option(
    "--passphrase-file", type=click.Path(dir_okay=False, exists=True), default=None,
    help="File whose first line is the passphrase (else $DTA_PASSPHRASE, else a prompt).")


def _fail(exc: DtaError):
    raise click.ClickException(str(exc)) from None


@click.group("authority")
def cli() -> None:
    """The D-TA's identity: secrets, Birth Record, funding address."""


@cli.command("init")
@click.option("--name", required=True, help="Operator-chosen label stored in the Birth Record.")
@click.option("--network", default=None, help="mainnet, testnet, signet or regtest (default: config).")
@click.option("--software-version", default=None, help="Recorded software version (default: dta/<version>).")
@passphrase_option
@pass_ctx
def init_cmd(ctx, name, network, software_version, passphrase_file):
    """Make the master secret, nonce and identity key (sealed with the passphrase) and the Birth Record."""
    try:
        passphrase = identity.resolve_passphrase(passphrase_file, confirm=True)
        birth = identity.initialise(ctx.cfg.data_dir, passphrase, name=name,
                                    network=network or ctx.cfg.chain.network,
                                    software_version=software_version)
    except (DtaError, ValueError) as exc:
        _fail(exc if isinstance(exc, DtaError) else DtaError(str(exc)))
    emit_json(identity.public_facts(birth))


@cli.command("show")
@pass_ctx
def show_cmd(ctx):
    """Public facts: D-TA id, name, network, identity key (no passphrase needed)."""
    try:
        facts = identity.load_public(ctx.cfg.data_dir)
    except DtaError as exc:
        _fail(exc)
    facts["address"] = _address(facts)
    facts["birth_anchor"] = _birth_anchor(ctx.cfg.data_dir)
    emit_json(facts)


def _birth_anchor(data_dir) -> dict | None:
    """State of the Birth Record transaction as the anchorer recorded it (None: not queued)."""
    path = Path(data_dir) / "anchors.sqlite3"
    if not path.exists():
        return None
    from dta.chain.store import AnchorStore
    store = AnchorStore(path)
    try:
        row = store.get(0)
        if row is None:
            return None
        d = row.as_dict()
        return {k: d[k] for k in ("state", "txid", "height", "confirmations")}
    finally:
        store.close()


def _address(facts: dict) -> str:
    return addr.p2wpkh_address(networks.get(facts["network"]).bech32_hrp,
                               bytes.fromhex(facts["identity_pubkey"]))


@cli.command("address")
@pass_ctx
def address_cmd(ctx):
    """The P2WPKH address (and script) that funds the Birth Record transaction."""
    try:
        facts = identity.load_public(ctx.cfg.data_dir)
    except DtaError as exc:
        _fail(exc)
    pub = bytes.fromhex(facts["identity_pubkey"])
    emit_json({"network": facts["network"], "address": _address(facts),
               "script_pubkey": addr.p2wpkh_script(pub).hex()})


@cli.command("reveal")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Write the raw Birth Record here (else print it as hex).")
@passphrase_option
@pass_ctx
def reveal_cmd(ctx, out, passphrase_file):
    """Publish the Birth Record: its bytes hash to the D-TA id anchored on-chain."""
    try:
        secrets = identity.unlock(ctx.cfg.data_dir, identity.resolve_passphrase(passphrase_file))
    except DtaError as exc:
        _fail(exc)
    record = secrets.birth.encode()
    if out:
        Path(out).write_bytes(record)
    result = identity.public_facts(secrets.birth)
    result["master_commitment"] = secrets.birth.master_commitment.hex()
    result["nonce"] = secrets.birth.nonce.hex()
    result["birth_record"] = record.hex()
    emit_json(result)
