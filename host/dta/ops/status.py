"""`dta status`: one look at a D-TA, the figures `dta status --json` and the Prometheus
endpoints share (dta.ops.metrics): the authority, whether the broker and the node answer, the
node's height and network, the log's size and the age of its last checkpoint, the seal chain's
states and fees, devices by state and refused frames by reason.

Read-only: stores that do not exist yet are reported as absent, never created.
"""

from __future__ import annotations

import os
import threading
import time

import paho.mqtt.client as mqtt

from dta import datadir
from dta.anchor.rpc import Node
from dta.anchor.store import CONFIRMED, FINAL, PENDING, UNCONFIRMED, AnchorStore
from dta.authority import identity
from dta.config import Config, read_secret_file
from dta.errors import USER_ERRORS
from dta.gateway.registry import STATES, Registry
from dta.log.store import LogStore

ANCHOR_STATES = (PENDING, UNCONFIRMED, CONFIRMED, FINAL)
# How long a probe waits for the broker's CONNACK: a loopback or LAN broker answers in
# milliseconds; a broker that needs longer is reported as not answering.
BROKER_TIMEOUT = 3.0


def _error(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, USER_ERRORS) else f"{type(exc).__name__}: {exc}"


def probe_broker(cfg: Config, timeout: float = BROKER_TIMEOUT) -> dict:
    """Connect with the gateway's credentials and a throw-away client id (never the gateway's:
    that would take its session), wait for the CONNACK, disconnect."""
    m = cfg.mqtt
    out = {"url": f"mqtt://{m.host}:{m.port}", "username": m.username or None,
           "reachable": False, "error": None}
    done, result = threading.Event(), {}

    def on_connect(client, userdata, flags, reason_code, properties):
        result["rc"] = reason_code
        done.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                         client_id=f"dta-status-{os.urandom(4).hex()}", clean_session=True)
    client.on_connect = on_connect
    try:
        if m.username:
            client.username_pw_set(m.username, read_secret_file(m.password_file,
                                                                "mqtt.password_file")
                                   if m.password_file else None)
        client.connect(m.host, m.port, keepalive=10)
        client.loop_start()
        if not done.wait(timeout):
            out["error"] = f"no answer to CONNECT within {timeout:g} s"
        elif result["rc"].is_failure:
            out["error"] = f"refused the connection: {result['rc']}"
        else:
            out["reachable"] = True
    except OSError as exc:
        out["error"] = f"cannot connect: {exc.strerror or exc}"
    except USER_ERRORS as exc:
        out["error"] = str(exc)
    finally:
        client.disconnect()
        client.loop_stop()
    return out


def node_status(node: Node | None) -> dict:
    if node is None:
        return {"configured": False, "reachable": False, "url": None, "network": None,
                "height": None, "error": "no node configured (chain.rpc_url)"}
    out = {"configured": True, "reachable": False, "url": repr(node.rpc), "network": None,
           "height": None, "error": None}
    try:
        out["network"], out["height"] = node.network(), node.height()
        out["reachable"] = True
    except USER_ERRORS as exc:
        out["error"] = _error(exc)
    return out


def authority_status(cfg: Config) -> dict:
    try:
        f = identity.load_public(cfg.data_dir)
    except USER_ERRORS as exc:
        return {"present": False, "error": _error(exc)}
    return {"present": True, "dta_id": f.dta_id.hex(), "name": f.name, "network": f.network,
            "identity_pubkey": f.identity_pubkey.hex()}


def log_figures(store: LogStore | None, now: float | None = None) -> dict:
    if store is None:
        return {"present": False, "tree_size": 0, "last_checkpoint": None}
    now = time.time() if now is None else now
    store.refresh()
    last = store.last_checkpoint()
    return {"present": True, "origin": store.origin, "tree_size": store.size,
            "last_checkpoint": None if last is None else {
                "seq": last.seq, "tree_size": last.tree_size,
                "age_seconds": round(max(0.0, now - last.created_at), 3)}}


def anchor_totals(rows) -> dict:
    """Anchors per state and the fees they cost (confirmed or final: spent; unconfirmed: in
    flight, they may still be replaced)."""
    states = {s: 0 for s in ANCHOR_STATES}
    spent = in_flight = 0
    for row in rows:
        states[row.state] = states.get(row.state, 0) + 1
        fee = (row.current or {}).get("fee") or 0
        if row.state in (CONFIRMED, FINAL):
            spent += fee
        elif row.state == UNCONFIRMED:
            in_flight += fee
    return {"states": states, "fees_sat": spent, "fees_in_flight_sat": in_flight}


def anchor_figures(store: AnchorStore | None) -> dict:
    if store is None:
        return {"present": False, **anchor_totals([])}
    return {"present": True, **anchor_totals(store.all())}


def registry_figures(reg: Registry | None) -> dict:
    if reg is None:
        return {"present": False, "devices": {s: 0 for s in STATES}, "refusals": {}}
    return {"present": True, "devices": reg.counts(), "refusals": reg.rejections()}


def snapshot(cfg: Config, node: Node | None, *, broker: bool = True) -> dict:
    """Everything `dta status` shows, as typed values."""
    reg = Registry.existing(cfg.registry_db)
    store = LogStore.open(cfg) if cfg.log_db.exists() else None
    anchors = AnchorStore(cfg.anchor_db) if cfg.anchor_db.exists() else None
    try:
        out = {"data_dir": str(cfg.data_dir), "authority": authority_status(cfg),
               "log": log_figures(store), "anchors": anchor_figures(anchors),
               "registry": registry_figures(reg)}
    finally:
        for opened in (reg, store, anchors):
            if opened is not None:
                opened.close()
    out["broker"] = probe_broker(cfg) if broker else None
    out["node"] = node_status(node)
    out["processes"] = {role: datadir.holder(cfg.data_dir, role)
                        for role in ("gateway", "anchor")}
    return out


def problems(snap: dict) -> list[str]:
    """What in a snapshot is wrong (each a sentence); empty when all is well."""
    out = []
    if not snap["authority"]["present"]:
        out.append(f"authority: {snap['authority']['error']}")
    if snap["broker"] is not None and not snap["broker"]["reachable"]:
        out.append(f"broker {snap['broker']['url']}: {snap['broker']['error']}")
    node = snap["node"]
    if node["configured"] and not node["reachable"]:
        out.append(f"node: {node['error']}")
    auth = snap["authority"]
    if node["reachable"] and auth["present"] and node["network"] != auth["network"]:
        out.append(f"node is on {node['network']}, the D-TA anchors on {auth['network']}")
    return out
