"""`dta devices list | enroll | revoke`: the registry as an operator reads and changes it."""

from __future__ import annotations

import time

import click

from dta import exitcodes
from dta.cli.context import codes, emit, json_option, pass_ctx, when
from dta.errors import AuthorityError, StoreError
from dta.gateway import enrolment
from dta.gateway.registry import STATES, Registry
from dta.oidc.text import printable


def _row(d, now: float) -> str:
    return (f"{d.key_id:<17} {d.state:<9} {printable(d.board, 16):<16} "
            f"{printable(d.firmware, 12):<12} {d.boot:>6}  {when(d.last_seen, now)}")


def _human(data: dict, rows) -> list[str]:
    now = time.time()
    if data["registry"] is None:
        return ["no devices yet: nothing has registered with a gateway on this data directory "
                "(`dta gateway run` makes the registry)"]
    devices = data["devices"]
    lines = [f"{len(devices)} devices: " + ", ".join(
        f"{data['counts'][s]} {s}" for s in STATES)]
    if devices:
        lines.append(f"{'KEY ID':<17} {'STATE':<9} {'BOARD':<16} {'FIRMWARE':<12} {'BOOT':>6}  "
                     "LAST SEEN")
        lines += [_row(d, now) for d in rows]
    refused = data["rejections"]
    if refused:
        lines.append("refused frames: " + ", ".join(
            f"{reason} {count}" for reason, count in sorted(refused.items())))
    return lines


@click.command("list", epilog=codes(exitcodes.SETUP))
@click.option("--state", type=click.Choice(STATES), default=None, help="Only devices in it.")
@json_option
@pass_ctx
def list_cmd(ctx, state: str | None, as_json: bool) -> None:
    """Registered devices (state, board, firmware, boot counter, last seen) and the counts of
    refused frames by reason. Read-only: creates nothing."""
    reg = Registry.existing(ctx.cfg.registry_db)
    rows = []
    if reg is None:
        data = {"registry": None, "devices": [], "counts": {s: 0 for s in STATES},
                "rejections": {}}
    else:
        try:
            rows = reg.devices(state)
            data = {"registry": str(ctx.cfg.registry_db), "devices": [d.as_dict() for d in rows],
                    "counts": reg.counts(), "rejections": reg.rejections()}
        finally:
            reg.close()
    emit(as_json, data, lambda d: _human(d, rows))


def _append_to_log(ctx):
    """The log's append for a one-off command (no signer: the gateway's tick checkpoints it)."""
    from dta.authority import identity
    from dta.log.store import LogStore

    if not identity.exists(ctx.cfg.data_dir):
        raise AuthorityError(f"no authority in {ctx.cfg.data_dir} (run `dta authority init`): "
                             "an enrolment goes into its transparency log")
    store = LogStore.open(ctx.cfg)
    return store, lambda entry: store.append(entry.encode())


def _registry(ctx, must_exist: bool = True) -> Registry:
    reg = Registry.existing(ctx.cfg.registry_db, max_pending=ctx.cfg.gateway.max_pending)
    if reg is None:
        if must_exist:
            raise StoreError(f"no devices yet in {ctx.cfg.data_dir}: a device registers by "
                             "saying hello to `dta gateway run`")
        reg = Registry(ctx.cfg.registry_db, max_pending=ctx.cfg.gateway.max_pending)
    return reg


def _changed(as_json: bool, dev, changed: bool, verb: str) -> None:
    entry = dev.enrolled_entry if verb == "enrolled" else dev.revoked_entry
    data = {"key_id": dev.key_id, "state": dev.state, "changed": changed, "log_entry": entry}
    emit(as_json, data, lambda d: (
        f"device {d['key_id']} {verb}: log entry #{d['log_entry']}" if changed else
        f"device {d['key_id']} was already {dev.state} (log entry #{d['log_entry']}); "
        "nothing written"))


@click.command("enroll", epilog=codes(exitcodes.SETUP))
@click.argument("key_id", required=False)
@click.option("--pubkey", default=None, metavar="HEX",
              help="Enrol a provisioned device by its 33-byte public key, before its first "
                   "hello (with --board).")
@click.option("--board", default=None, help="The provisioned device's board name.")
@click.option("--from-port", "from_port", default=None, metavar="PORT",
              help="Enrol the device on this serial port by the key id it reports on its "
                   "console (after `dta devices flash`, or a reset).")
@json_option
@pass_ctx
def enroll_cmd(ctx, key_id: str | None, pubkey: str | None, board: str | None,
               from_port: str | None, as_json: bool) -> None:
    """Approve the pending device KEY_ID (a key id or a unique prefix of 4+ hex digits): its
    DeviceEnrolled entry goes into the transparency log, then it is enrolled."""
    if from_port:
        if key_id or pubkey:
            raise click.UsageError("--from-port reads the key id: give no KEY_ID or --pubkey")
        from dta.cli.flash import key_id_from_port
        key_id = key_id_from_port(from_port)
    if bool(key_id) == bool(pubkey):
        raise click.UsageError("give KEY_ID (a pending device), --from-port PORT or --pubkey "
                               "HEX --board NAME")
    if pubkey and not board:
        raise click.UsageError("--pubkey needs --board (the device's board name)")
    store, append = _append_to_log(ctx)
    reg = _registry(ctx, must_exist=key_id is not None)
    try:
        if pubkey:
            try:
                raw = bytes.fromhex(pubkey)
            except ValueError:
                raise click.BadParameter("not hex: give the key as 66 hex digits",
                                         param_hint="--pubkey") from None
            dev, changed = enrolment.provision(reg, append, raw, board)
        else:
            dev, changed = enrolment.enroll(reg, append, reg.resolve(key_id).key_id)
    finally:
        reg.close()
        store.close()
    _changed(as_json, dev, changed, "enrolled")


@click.command("revoke", epilog=codes(exitcodes.SETUP))
@click.argument("key_id")
@click.option("--reason", type=click.Choice(tuple(enrolment.REVOKE_REASONS)), required=True,
              help="Why: retired, compromised (its key may be known to others) or other.")
@json_option
@pass_ctx
def revoke_cmd(ctx, key_id: str, reason: str, as_json: bool) -> None:
    """Revoke the device KEY_ID for good: its DeviceRevoked entry goes into the transparency
    log, then the gateway refuses its hellos (counted as `revoked`)."""
    store, append = _append_to_log(ctx)
    reg = _registry(ctx)
    try:
        dev, changed = enrolment.revoke(reg, append, reg.resolve(key_id).key_id, reason)
    finally:
        reg.close()
        store.close()
    _changed(as_json, dev, changed, "revoked")
