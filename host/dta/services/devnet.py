"""`dta devnet`: a private broker and regtest node for one data directory, that outlive the
command which started them (unlike the demo's and the tests' services).

Under `<data dir>/devnet/`: `broker/` (mosquitto, authenticated: the gateway's and the devices'
passwords in `mqtt-gateway.password` and `mqtt-device.password`, 0600, and an ACL letting
devices publish hellos only), `bcoin/` (a bcoin regtest node keeping its chain on disk, mined
past the heights bcoin's regtest quirks need, its RPC password in `bcoin.cookie`, 0600) and
`devnet.json` (their PIDs and ports). Both listen on loopback ports chosen once and kept across
`down`/`up`, so the configuration written by `up` stays right; `down` stops them by PID, and
only a PID whose command line still names this directory.
"""

from __future__ import annotations

import json
import secrets
import socket
from pathlib import Path

from dta.anchor.rpc import Node
from dta.anchor.tx import Outpoint
from dta.errors import ServiceError, StoreError
from dta.services import process, regtest
from dta.services.mosquitto import (
    DEVICE_USER,
    GATEWAY_USER,
    FleetCredentials,
    Mosquitto,
    fleet_acl,
    free_port,
    write_secret,
)

DIR_NAME = "devnet"
STATE_FILE = "devnet.json"
# devnet.json is two PIDs and two ports; anything larger is not ours.
MAX_STATE = 4096
RPC_USER = "dta"
SERVICES = ("broker", "node")


def _port_free(port: int) -> bool:
    # SO_REUSEADDR as the services themselves bind: our own earlier connections in TIME_WAIT
    # do not make a port taken.
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


class Devnet:
    def __init__(self, data_dir: Path, topic_prefix: str = "dta/v1"):
        self.root = Path(data_dir) / DIR_NAME
        self.topic_prefix = topic_prefix
        self.credentials = FleetCredentials(self.root)
        self.cookie = self.root / "bcoin.cookie"
        self.state_path = self.root / STATE_FILE

    # -- state ----------------------------------------------------------------------------------

    def state(self) -> dict:
        try:
            raw = self.state_path.read_bytes()[:MAX_STATE + 1]
        except FileNotFoundError:
            return {}
        try:
            data = json.loads(raw)
        except ValueError:
            raise StoreError(f"{self.state_path} is damaged: stop any devnet process by hand "
                             "(see `ps`), remove the file and run `dta devnet up`") from None
        if not isinstance(data, dict) or len(raw) > MAX_STATE:
            raise StoreError(f"{self.state_path} is not a devnet state file")
        return data

    def _save(self, data: dict) -> None:
        write_secret(self.state_path, json.dumps(data, sort_keys=True))

    def _marker(self, name: str) -> str:
        return str(self.root / ("broker" if name == "broker" else "bcoin"))

    def running(self, name: str, data: dict | None = None) -> bool:
        entry = (self.state() if data is None else data).get(name) or {}
        pid = entry.get("pid")
        return isinstance(pid, int) and process.pid_runs(pid, self._marker(name))

    def _port(self, name: str, data: dict) -> int:
        port = (data.get(name) or {}).get("port")
        return port if isinstance(port, int) and _port_free(port) else free_port()

    # -- up / down ------------------------------------------------------------------------------

    def up(self) -> list[str]:
        """Start whatever is not running; returns the names started (empty: all were up)."""
        self.root.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.root.mkdir(exist_ok=True, mode=0o700)
        self.credentials.ensure()
        if not self.cookie.exists():
            write_secret(self.cookie, f"{RPC_USER}:{secrets.token_hex(16)}")
        data, started = self.state(), []
        if not self.running("broker", data):
            broker = Mosquitto(self.root / "broker", self._port("broker", data),
                               persistence=True, users=self.credentials.users(),
                               acl=fleet_acl(self.topic_prefix)).start()
            data["broker"] = {"pid": broker.proc.pid, "port": broker.port}
            started.append("broker")
            self._save(data)
        if not self.running("node", data):
            if not regtest.available():
                raise ServiceError("the bcoin regtest node is not installed: run `make devnet` "
                                   "(Node.js and npm)")
            node = regtest.RegtestNode(self.root / "bcoin", self._port("node", data),
                                       memory=False, api_key=self._api_key()).start()
            data["node"] = {"pid": node.proc.pid, "port": node.port}
            started.append("node")
            self._save(data)
        regtest.prepare(self.node())
        return started

    def down(self) -> list[str]:
        """Stop both by PID; returns the names that were running."""
        data, stopped = self.state(), []
        for name in SERVICES:
            pid = (data.get(name) or {}).get("pid")
            if isinstance(pid, int) and process.stop_pid(pid, self._marker(name)):
                stopped.append(name)
            if name in data:
                data[name] = {"port": data[name].get("port")}
        if data:
            self._save(data)
        return stopped

    # -- what the configuration and the CLI need ----------------------------------------------

    def _api_key(self) -> str:
        return self.cookie.read_text().strip().partition(":")[2]

    def rpc_url(self, data: dict | None = None) -> str:
        port = ((self.state() if data is None else data).get("node") or {}).get("port")
        return f"http://127.0.0.1:{port}/"

    def node(self) -> Node:
        return Node.from_url(self.rpc_url(), cookie_file=str(self.cookie))

    def config_updates(self) -> dict[str, dict]:
        """What `dta devnet up` writes into the configuration file."""
        data = self.state()
        return {
            "mqtt": {"host": "127.0.0.1", "port": data["broker"]["port"],
                     "username": GATEWAY_USER,
                     "password_file": str(self.credentials.gateway_file),
                     "device_username": DEVICE_USER,
                     "device_password_file": str(self.credentials.device_file)},
            "chain": {"network": "regtest", "rpc_url": self.rpc_url(data),
                      "rpc_cookie": str(self.cookie)},
        }

    def status(self) -> dict:
        data = self.state()
        out = {"directory": str(self.root)}
        for name in SERVICES:
            entry = data.get(name) or {}
            up = self.running(name, data)
            out[name] = {"running": up, "pid": entry.get("pid") if up else None,
                         "port": entry.get("port"),
                         "answers": bool(up and entry.get("port") and _answers(entry["port"]))}
        if out["node"]["answers"]:
            try:
                out["node"]["height"] = self.node().height()
            except ServiceError as exc:
                out["node"]["error"] = str(exc)
        return out

    def fund(self, script: bytes) -> Outpoint:
        """A mature coinbase paying `script`, mined in whatever address form the node takes."""
        if not self.running("node"):
            raise ServiceError("the devnet's node is not running: `dta devnet up` first")
        return regtest.fund_by_mining(self.node(), script)

