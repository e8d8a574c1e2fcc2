"""`dta doctor`: check a D-TA's set-up and say what to fix.

Each check is one function returning Checks (name, status ok | warn | fail, what was found, how
to fix it): the data directory's and secret files' permissions, where the passphrase would come
from, the broker (reachable, credentials accepted), the node (network, transaction index,
segwit: dta.anchor's readiness check), the metrics ports, and the clock against the node's
latest block and the log's last checkpoint. Nothing is changed.
"""

from __future__ import annotations

import socket
import stat
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from dta import datadir
from dta import passphrase as passphrases
from dta.anchor.rpc import Node
from dta.authority import identity
from dta.config import Config
from dta.errors import USER_ERRORS
from dta.log.store import LogStore
from dta.ops.status import probe_broker

OK, WARN, FAIL = "ok", "warn", "fail"
# Bitcoin refuses a block more than two hours ahead of the network-adjusted time: a clock that
# far behind the node's tip is wrong (and would date checkpoints wrongly).
MAX_CLOCK_BEHIND = 2 * 3600


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    found: str
    fix: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def check_permissions(cfg: Config) -> list[Check]:
    out = []
    d = cfg.data_dir
    if not d.exists():
        return [Check("data directory", WARN, f"{d} does not exist yet",
                      "`dta authority init` (or `dta devnet up`) creates it")]
    mode = _mode(d)
    out.append(Check("data directory", OK if not mode & 0o077 else WARN,
                     f"{d} mode {mode:04o}", "" if not mode & 0o077 else f"chmod 700 {d}"))
    adir = identity.authority_dir(d)
    for path in sorted(adir.glob("*")) if adir.exists() else []:
        mode = _mode(path)
        out.append(Check(f"secret file {path.name}", OK if not mode & 0o077 else FAIL,
                         f"{path} mode {mode:04o}",
                         "" if not mode & 0o077 else f"chmod 600 {path}"))
    for key in ("password_file", "device_password_file"):
        value = getattr(cfg.mqtt, key)
        if value:
            out.append(_secret_file(Path(value).expanduser(), f"mqtt.{key}"))
    if cfg.chain.rpc_cookie:
        out.append(_secret_file(Path(cfg.chain.rpc_cookie).expanduser(), "chain.rpc_cookie"))
    return out


def _secret_file(path: Path, what: str) -> Check:
    if not path.exists():
        return Check(what, FAIL, f"{path} does not exist", f"create it, or fix {what}")
    mode = _mode(path)
    return Check(what, OK if not mode & 0o077 else FAIL, f"{path} mode {mode:04o}",
                 "" if not mode & 0o077 else f"chmod 600 {path}")


def check_authority(cfg: Config, passphrase_file: str | None) -> list[Check]:
    if not identity.exists(cfg.data_dir):
        return [Check("authority", FAIL, f"no authority in {cfg.data_dir}",
                      "`dta authority init --name NAME`")]
    out = [Check("authority", OK, f"sealed secrets in {identity.authority_dir(cfg.data_dir)}")]
    src = passphrases.source(passphrase_file)
    if passphrase_file:
        try:
            passphrases.read_file(passphrase_file)
        except USER_ERRORS as exc:
            return out + [Check("passphrase", FAIL, str(exc), "")]
    if src is None:
        out.append(Check("passphrase", WARN, "no source: no --passphrase-file, no "
                         "$DTA_PASSPHRASE, no terminal",
                         "services need --passphrase-file FILE (0600) or $DTA_PASSPHRASE"))
    else:
        out.append(Check("passphrase", OK, f"from {src}"))
    return out


def check_broker(cfg: Config) -> list[Check]:
    probe = probe_broker(cfg)
    if probe["reachable"]:
        who = f" as {probe['username']}" if probe["username"] else " without authentication"
        found = f"{probe['url']} accepted a connection{who}"
        if not probe["username"]:
            return [Check("broker", WARN, found, "require authentication on the broker and "
                          "set mqtt.username / mqtt.password_file (docs/operations.md)")]
        return [Check("broker", OK, found)]
    return [Check("broker", FAIL, f"{probe['url']}: {probe['error']}",
                  "start the broker (`dta devnet up` for a local one) or fix [mqtt] host/port/"
                  "credentials")]


def check_node(cfg: Config, node: Node | None) -> list[Check]:
    if node is None:
        return [Check("node", WARN, "no Bitcoin node configured: roots stay pending",
                      "set chain.rpc_url (docs/anchoring.md; `dta devnet up` for a local one)")]
    try:
        network = identity.load_public(cfg.data_dir).network
    except USER_ERRORS:
        network = cfg.chain.network
    try:
        caps = node.check_ready(network)
    except USER_ERRORS as exc:
        return [Check("node", FAIL, f"{node.rpc!r}: {exc}", "see the message; "
                      "docs/anchoring.md lists what a node needs")]
    return [Check("node", OK, f"{node.rpc!r}: {caps.network} at height {caps.height}, "
                  f"transaction index {caps.tx_index}, segwit {caps.segwit_status}")] + \
        check_clock(cfg, node)


def check_clock(cfg: Config, node: Node | None) -> list[Check]:
    out = []
    now = time.time()
    if node is not None:
        try:
            tip_time = int(node.header(node.block_hash(node.height()))["time"])
        except (USER_ERRORS, KeyError, TypeError, ValueError):
            tip_time = None
        if tip_time is not None and tip_time - now > MAX_CLOCK_BEHIND:
            out.append(Check("clock", FAIL, f"the node's latest block is dated "
                             f"{int(tip_time - now)} s ahead of this machine's clock",
                             "set the clock (NTP): checkpoints carry this machine's time"))
    if cfg.log_db.exists():
        with LogStore.open(cfg) as store:
            last = store.last_checkpoint()
        if last is not None and last.created_at - now > 60:
            out.append(Check("clock", FAIL, f"the last checkpoint is dated "
                             f"{int(last.created_at - now)} s in the future",
                             "the clock went back: set it (NTP) before closing checkpoints"))
    if not out:
        out.append(Check("clock", OK, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
                         + (" (agrees with the node's latest block)" if node else "")))
    return out


def check_ports(cfg: Config) -> list[Check]:
    out = []
    for role, port in (("gateway", cfg.metrics.gateway_port),
                       ("anchor", cfg.metrics.anchor_port)):
        if not port:
            continue
        running = datadir.holder(cfg.data_dir, role)
        with socket.socket() as s:
            try:
                s.bind((cfg.metrics.host, port))
                free = True
            except OSError:
                free = False
        if free or running:
            out.append(Check(f"{role} metrics port", OK,
                             f"{cfg.metrics.host}:{port} " + ("in use by the running "
                                                              f"{role} (pid {running})"
                                                              if running else "free")))
        else:
            out.append(Check(f"{role} metrics port", FAIL,
                             f"{cfg.metrics.host}:{port} is taken by another program",
                             "choose another [metrics] port"))
    return out


def run(cfg: Config, node: Node | None, passphrase_file: str | None = None) -> list[Check]:
    return (check_permissions(cfg) + check_authority(cfg, passphrase_file) + check_broker(cfg)
            + check_node(cfg, node) + check_ports(cfg))
